"""What models (and the glossary) suggest for segments, and what each run recorded.

Which versions are shown by default is the models' business (``suggesting_versions``, in
:mod:`annotator.store.models`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from annotator.store.base import StorePart, marks, scalar, utcnow
from annotator.store.records import SEGMENT_COLUMNS, Segment, Suggestion, segment_from_tuple

# A model run's results as rows, ready to write (``Suggestions.replace_runs``): built where they
# are computed (in this process, or on a Ray worker), so that writing them is all that is left.
RunRow = tuple[int, "float | None", str]  # segment id, uncertainty, info (JSON)
# segment id, kind, label, start, end, score, extra (JSON)
SuggestionRow = tuple[int, str, str, "int | None", "int | None", float, str]


class Suggestions(StorePart):
    def replace_runs(self, model_version: str, runs: Sequence[RunRow], suggestions: Sequence[SuggestionRow]) -> None:
        """One model version's runs over some segments, as :meth:`replace_suggestions` stores
        them one at a time, in one transaction and one statement per table: each run's segment
        loses the version's earlier suggestions, then gets ``suggestions`` (each for one of
        ``runs``' segments) and its run. What a chunk of ``annotator suggest`` writes."""
        now = utcnow()
        with self.write():
            conn = self.db.conn
            conn.executemany("DELETE FROM suggestions WHERE segment_id = ? AND model_version = ?",
                             [(run[0], model_version) for run in runs])
            conn.executemany(
                'INSERT INTO suggestions (segment_id, model_version, kind, label, start, "end", score, extra, '
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(seg, model_version, kind, label, start, end, score, extra, now)
                 for seg, kind, label, start, end, score, extra in suggestions])
            conn.executemany(
                "INSERT OR REPLACE INTO suggestion_runs (segment_id, model_version, created_at, uncertainty, info) "
                "VALUES (?, ?, ?, ?, ?)", [(seg, model_version, now, unc, info) for seg, unc, info in runs])

    def replace_suggestions(self, segment_id: int, model_version: str, items: Iterable[Suggestion],
                            uncertainty: float | None = None, info: dict[str, Any] | None = None) -> None:
        """Store one model version's suggestions for a segment, replacing its earlier ones.

        ``uncertainty`` (higher = less sure) and ``info`` (e.g. the top frame scores, above
        threshold or not) describe the run as a whole.
        """
        with self.write():
            self.db.execute("DELETE FROM suggestions WHERE segment_id = ? AND model_version = ?", [segment_id, model_version])
            now = utcnow()
            self.db["suggestions"].insert_all(
                {
                    "segment_id": segment_id, "model_version": model_version, "kind": s.kind,
                    "label": s.label, "start": s.start, "end": s.end, "score": float(s.score),
                    "extra": json.dumps(s.extra, ensure_ascii=False), "created_at": now,
                }
                for s in items
            )
            self.db.execute(
                "INSERT OR REPLACE INTO suggestion_runs (segment_id, model_version, created_at, uncertainty, info) "
                "VALUES (?, ?, ?, ?, ?)",
                [segment_id, model_version, now, uncertainty, json.dumps(info or {}, ensure_ascii=False)])

    def suggestions(self, segment_id: int, versions: Sequence[str] | None = None) -> list[Suggestion]:
        """Suggestions for a segment from the given versions (default: the active ones + glossary)."""
        if versions is None:
            versions = self.suggesting_versions()
        if not versions:
            return []
        rows = self.db.query(
            f"SELECT segment_id, model_version, kind, label, score, start, \"end\", extra FROM suggestions "
            f"WHERE segment_id = ? AND model_version IN ({marks(versions)}) ORDER BY kind, score DESC",
            [segment_id, *versions])
        return [Suggestion(**{**r, "extra": json.loads(r["extra"] or "{}")}) for r in rows]

    def segments_with_suggestions(self, segment_ids: Sequence[int]) -> set[int]:
        if not segment_ids:
            return set()
        versions = self.suggesting_versions()
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT segment_id FROM suggestions WHERE segment_id IN ({marks(segment_ids)}) "
            f"AND model_version IN ({marks(versions)})", [*segment_ids, *versions]).fetchall()}

    def has_run(self, segment_id: int, model_version: str) -> bool:
        """Whether this model version has looked at the segment (whatever it found)."""
        return scalar(self.db, "SELECT 1 FROM suggestion_runs WHERE segment_id = ? AND model_version = ?",
                      [segment_id, model_version]) is not None

    def run_info(self, segment_id: int, model_version: str) -> dict[str, Any]:
        """What a model run recorded beside its suggestions (``top`` frame scores, …)."""
        info = scalar(self.db, "SELECT info FROM suggestion_runs WHERE segment_id = ? AND model_version = ?",
                      [segment_id, model_version])
        return json.loads(info) if info else {}

    def uncertainties(self, model_version: str, segment_ids: Sequence[int] | None = None) -> dict[int, float]:
        rows = self.db.execute(
            "SELECT segment_id, uncertainty FROM suggestion_runs WHERE model_version = ? AND uncertainty IS NOT NULL",
            [model_version]).fetchall()
        if segment_ids is not None:
            wanted = set(segment_ids)
            return {s: u for s, u in rows if s in wanted}
        return dict(rows)

    def segments_missing_run(self, model_version: str, limit: int | None = None) -> list[Segment]:
        sql = (f"SELECT {SEGMENT_COLUMNS} FROM segments s WHERE NOT EXISTS (SELECT 1 FROM suggestion_runs r WHERE "
               "r.segment_id = s.id AND r.model_version = ?) ORDER BY s.id")
        params: list[Any] = [model_version]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [segment_from_tuple(r) for r in self.db.execute(sql, params).fetchall()]

    def count_missing_run(self, model_version: str) -> int:
        """How many segments :meth:`segments_missing_run` would return without a limit."""
        return int(scalar(self.db, "SELECT COUNT(*) FROM segments s WHERE NOT EXISTS (SELECT 1 FROM suggestion_runs r "
                                   "WHERE r.segment_id = s.id AND r.model_version = ?)", [model_version]) or 0)

    def suggestion_counts(self) -> dict[str, int]:
        return {r["model_version"]: r["n"] for r in self.db.query(
            "SELECT model_version, COUNT(*) AS n FROM suggestion_runs GROUP BY model_version")}

    def frame_scores(self, model_version: str) -> dict[int, dict[str, float]]:
        """Every segment's frame scores from one version (for active-learning order)."""
        out: dict[int, dict[str, float]] = {}
        for seg, label, score in self.db.execute(
            "SELECT segment_id, label, score FROM suggestions WHERE model_version = ? AND kind = 'frame'",
            [model_version]):
            out.setdefault(seg, {})[label] = score
        return out

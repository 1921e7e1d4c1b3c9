"""The project store: every read and write of the project database goes through here.

One ``Store`` wraps one sqlite-utils ``Database``. Each public write is one transaction
(``db.write``), so a killed process never leaves half of a decision or of an import behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from annotator.errors import AnnotatorError, shown
from annotator.store import db as dbmod
from annotator.store.records import (
    Annotation,
    AnnotationState,
    GlossaryEntry,
    Segment,
    Speech,
    Suggestion,
    Translation,
    annotation_from_row,
)
from annotator.store.schema import ANNOTATION_STATUSES, CJK_LANGUAGES, TRANSLATION_PROVENANCES

CJK_CHARS = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")

# Which translation to show first when a segment has several.
PROVENANCE_RANK = {p: i for i, p in enumerate(TRANSLATION_PROVENANCES)}


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SegmentFilter:
    """What the segment list shows. Empty fields mean "any"."""

    language: str = ""
    speech_id: int | None = None
    status: str = ""  # an annotation status, "untouched" (no decision yet) or ""
    label: str = ""  # a frame label the annotator chose, or the model suggested
    annotator: str = ""
    query: str = ""  # full-text search in the original and the translation
    assigned_to: str = ""


class Store:
    def __init__(self, db: Database, path: Path | None = None) -> None:
        self.db = db
        self.path = path

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        return cls(dbmod.connect(path), Path(path))

    @classmethod
    @contextlib.contextmanager
    def creating(cls, path: str | Path) -> Iterator["Store"]:
        """A new project database that appears at ``path`` only if the block succeeds.

        It is built under a hidden name beside ``path`` and linked into place once closed (a
        link, unlike a rename, fails if someone created ``path`` meanwhile); on any error it is
        deleted, so a failed first import leaves no empty database behind. The store must not
        be used after the block."""
        path = Path(path)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.new")
        store = cls.open(staging)
        try:
            yield store
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store.close()
            try:
                os.link(staging, path)
            except FileExistsError:
                raise AnnotatorError(f"{shown(path)}: was created by another process meanwhile; "
                                     "nothing was written (run the command again)") from None
        finally:
            store.close()
            for f in dbmod.database_files(staging):
                f.unlink(missing_ok=True)

    @classmethod
    def in_memory(cls) -> "Store":
        return cls(dbmod.memory())

    def reopen(self) -> "Store":
        """A new connection to the same file (for a worker thread)."""
        if self.path is None:
            raise AnnotatorError("an in-memory store cannot be reopened from another thread")
        return Store.open(self.path)

    def close(self) -> None:
        self.db.close()

    def refuse_own_files(self, paths: Iterable[str | Path]) -> None:
        """Fail before reading any of ``paths`` that is this project's database (or its WAL,
        shared-memory or journal file): reading it with ``open()`` would drop this process's
        SQLite locks on it (see :func:`annotator.store.db.connect`)."""
        if self.path is None:
            return
        own = dbmod.database_files(self.path)
        for path in paths:
            if dbmod.same_file(Path(path), own):
                raise AnnotatorError(f"{shown(path)}: is this project's database, not a file to import")

    def write(self, wait: float | None = None):
        """One write transaction (``BEGIN IMMEDIATE``); ``wait``: seconds to wait for a busy lock
        before :class:`~annotator.errors.DatabaseBusy` (default: the connection's 30 s)."""
        return dbmod.write(self.db, wait=wait, path=self.path)

    def _q(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, params)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

    # ----------------------------------------------------------------- speeches
    def has_speech(self, content_hash: str) -> bool:
        return self._one("SELECT 1 FROM speeches WHERE content_hash = ?", [content_hash]) is not None

    def add_speech(self, speech: dict[str, Any],
                   segments: Sequence[dict[str, Any]] | Sequence[tuple[int, int, str]]) -> int | None:
        """Insert a speech with its segments; ``None`` if the same text is already there.

        A segment is a dict (start, end, text, language) or, cheaper for big imports, a tuple
        ``(start, end, language)`` whose text is ``speech["text"][start:end]``. Call inside
        ``with store.write():`` to make a whole import one transaction.
        """
        if self.has_speech(speech["content_hash"]):
            return None
        with self.write():
            row = {k: speech.get(k) or "" for k in (
                "content_hash", "external_id", "title", "speaker", "date", "venue",
                "language", "source", "licence", "text")}
            row["imported_at"] = utcnow()
            speech_id = self.db["speeches"].insert(row).last_pk
            prefix = speech["content_hash"][:16]
            lang = speech.get("language") or ""
            self.db.conn.executemany(
                'INSERT INTO segments (uid, speech_id, position, start, "end", text, language) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(f"{prefix}:{i}", speech_id, i, *_segment_row(seg, speech["text"], lang))
                 for i, seg in enumerate(segments)],
            )
        return int(speech_id)

    @contextlib.contextmanager
    def bulk_segments(self) -> Iterator[Callable[[], None]]:
        """Inside an open write transaction: add many segments, index them for search in bulk.

        The full-text trigger indexes one row at a time; for a large import it is dropped and the
        new rows are indexed a batch at a time: call the yielded ``flush()`` now and then (an
        import does, while its workers segment the next speeches), and once more at the end.
        It all stays inside the caller's transaction (SQLite's DDL is transactional), so a
        failure leaves no trace.
        """
        if not self.db.conn.in_transaction:
            raise AnnotatorError("bulk_segments() must run inside `with store.write():`")
        indexed = [self._one("SELECT COALESCE(MAX(id), 0) FROM segments")]
        triggers = [r[0] for r in self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN ('segments_fts_ai', 'segments_cjk_fts_ai')")]
        self.db.execute("DROP TRIGGER IF EXISTS segments_fts_ai")
        self.db.execute("DROP TRIGGER IF EXISTS segments_cjk_fts_ai")

        def flush() -> None:
            since = indexed[0]
            self.db.execute("INSERT INTO segments_fts(rowid, text) SELECT id, text FROM segments WHERE id > ?", [since])
            self.db.execute(
                f"INSERT INTO segments_cjk_fts(rowid, text) SELECT id, text FROM segments WHERE id > ? "
                f"AND language IN {CJK_LANGUAGES}", [since])
            indexed[0] = self._one("SELECT COALESCE(MAX(id), 0) FROM segments")

        yield flush
        flush()
        for sql in triggers:
            self.db.execute(sql)

    def speech(self, speech_id: int, with_text: bool = False) -> Speech:
        cols = "*" if with_text else "id, title, speaker, date, venue, language, source, licence, external_id, content_hash"
        rows = self._q(f"SELECT {cols} FROM speeches WHERE id = ?", [speech_id])
        if not rows:
            raise AnnotatorError(f"no speech with id {speech_id}")
        r = rows[0]
        return Speech(**{k: (r.get(k) if k == "id" else r.get(k) or "") for k in Speech.__dataclass_fields__ if k in r})

    def speeches(self) -> list[Speech]:
        rows = self._q(
            "SELECT id, title, speaker, date, venue, language, source, licence, external_id, content_hash "
            "FROM speeches ORDER BY id"
        )
        return [Speech(**{k: (v if k == "id" else v or "") for k, v in r.items()}) for r in rows]

    # ----------------------------------------------------------------- segments
    @staticmethod
    def _segment(row: dict[str, Any]) -> Segment:
        return Segment(
            id=row["id"], uid=row["uid"], speech_id=row["speech_id"], position=row["position"],
            start=row["start"], end=row["end"], text=row["text"], language=row["language"] or "",
        )

    def segment(self, segment_id: int) -> Segment:
        rows = self._q("SELECT * FROM segments WHERE id = ?", [segment_id])
        if not rows:
            raise AnnotatorError(f"no segment with id {segment_id}")
        return self._segment(rows[0])

    def segments(self, ids: Sequence[int]) -> list[Segment]:
        """Segments by id, in the order of ``ids`` (for one visible page of a list)."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        by_id = {r["id"]: self._segment(r) for r in self._q(f"SELECT * FROM segments WHERE id IN ({marks})", list(ids))}
        return [by_id[i] for i in ids if i in by_id]

    def segment_with_text(self, text: str) -> Segment | None:
        """The first segment whose text is exactly ``text``."""
        rows = self._q("SELECT * FROM segments WHERE text = ? ORDER BY id LIMIT 1", [text])
        return self._segment(rows[0]) if rows else None

    def speech_containing(self, text: str) -> tuple[int, int] | None:
        """``(speech id, offset)`` of the first speech whose text contains ``text``."""
        row = self.db.execute("SELECT id, instr(text, ?) - 1 FROM speeches WHERE instr(text, ?) > 0 "
                              "ORDER BY id LIMIT 1", [text, text]).fetchone()
        return (row[0], row[1]) if row else None

    def segments_of_speech(self, speech_id: int) -> list[Segment]:
        return [self._segment(r) for r in self._q(
            "SELECT * FROM segments WHERE speech_id = ? ORDER BY position", [speech_id])]

    def iter_segments(self, batch: int = 1000) -> Iterator[Segment]:
        last = 0
        while True:
            rows = self._q("SELECT * FROM segments WHERE id > ? ORDER BY id LIMIT ?", [last, batch])
            if not rows:
                return
            for r in rows:
                yield self._segment(r)
            last = rows[-1]["id"]

    def segment_ids(self, flt: SegmentFilter | None = None, order: str = "document") -> list[int]:
        """Ids of the segments a filter selects, in reading order (ints only: cheap for 100k)."""
        flt = flt or SegmentFilter()
        where, params = ["1=1"], []
        if flt.language:
            where.append("s.language = ?")
            params.append(flt.language)
        if flt.speech_id is not None:
            where.append("s.speech_id = ?")
            params.append(flt.speech_id)
        if flt.status == "untouched":
            where.append("NOT EXISTS (SELECT 1 FROM annotations a WHERE a.segment_id = s.id AND a.annotator = ?)")
            params.append(flt.annotator)
        elif flt.status:
            where.append("EXISTS (SELECT 1 FROM annotations a WHERE a.segment_id = s.id AND a.annotator = ? AND a.status = ?)")
            params += [flt.annotator, flt.status]
        if flt.label:
            where.append(
                "(EXISTS (SELECT 1 FROM annotations a, json_each(a.frames) j WHERE a.segment_id = s.id "
                "AND a.annotator = ? AND j.value = ?) OR EXISTS (SELECT 1 FROM suggestions g "
                "WHERE g.segment_id = s.id AND g.kind = 'frame' AND g.label = ? AND "
                "g.model_version IN (SELECT version FROM active_models)))"
            )
            params += [flt.annotator, flt.label, flt.label]
        if flt.assigned_to:
            where.append("EXISTS (SELECT 1 FROM assignments x WHERE x.segment_id = s.id AND x.annotator = ?)")
            params.append(flt.assigned_to)
        hits = None
        if flt.query:  # every hit: a search never stops short of what it finds
            hits = set(self.search(flt.query))
            if not hits:
                return []
        sql = f"SELECT s.id FROM segments s WHERE {' AND '.join(where)} ORDER BY s.speech_id, s.position"
        ids = (r[0] for r in self.db.execute(sql, params))
        return [i for i in ids if i in hits] if hits is not None else list(ids)

    def search(self, query: str, limit: int | None = None) -> list[int]:
        """Segment ids whose original text or translation matches ``query`` (all of them, or
        the first ``limit``).

        Words in spaced scripts: the words in this order, the last one as a prefix
        ("human righ" finds "human rights"), accents ignored. Chinese, Japanese or Korean:
        the exact substring. FTS syntax in the query is matched as text, never run.
        """
        query = " ".join(query.split())
        if not query:
            return []
        limit = -1 if limit is None else limit  # SQLite: LIMIT -1 is no limit
        if CJK_CHARS.search(query) or not any(c.isalnum() for c in query):
            return self._search_substring(query, limit)  # no words to look up
        phrase = '"' + query.replace('"', '""') + '" *'
        try:
            rows = self.db.execute(
                "SELECT rowid FROM segments_fts WHERE segments_fts MATCH ? "
                "UNION SELECT t.segment_id FROM translations_fts f JOIN translations t ON t.id = f.rowid "
                "WHERE translations_fts MATCH ? LIMIT ?",
                [phrase, phrase, limit],
            ).fetchall()
        except sqlite3.OperationalError:  # a query the word index cannot parse: match it literally
            return self._search_substring(query, limit)
        return sorted(r[0] for r in rows)

    def _search_substring(self, query: str, limit: int) -> list[int]:
        if len(query) >= 3:
            # trigram index over CJK segments; quoted so that it is matched as a phrase
            phrase = '"' + query.replace('"', '""') + '"'
            rows = self.db.execute(
                "SELECT rowid FROM segments_cjk_fts WHERE segments_cjk_fts MATCH ? LIMIT ?", [phrase, limit]
            ).fetchall()
            if rows:
                return sorted(r[0] for r in rows)
        # Too short for trigrams (a two-character Chinese word), or outside CJK segments: a scan.
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute(
            "SELECT id FROM segments WHERE text LIKE ? ESCAPE '\\' "
            "UNION SELECT segment_id FROM translations WHERE text LIKE ? ESCAPE '\\' LIMIT ?",
            [like, like, limit],
        ).fetchall()
        return sorted(r[0] for r in rows)

    # ------------------------------------------------------------- translations
    def add_translation(self, segment_id: int, target_lang: str, text: str, provenance: str, model: str = "") -> None:
        if provenance not in TRANSLATION_PROVENANCES:
            raise ValueError(f"unknown provenance {provenance!r}")
        with self.write():
            self.db.execute(
                "INSERT INTO translations (segment_id, target_lang, text, provenance, model, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (segment_id, target_lang, provenance, model) "
                "DO UPDATE SET text = excluded.text, created_at = excluded.created_at",
                [segment_id, target_lang, text, provenance, model, utcnow()],
            )

    def translations(self, segment_id: int, target_lang: str = "en") -> list[Translation]:
        rows = self._q(
            "SELECT segment_id, target_lang, text, provenance, model FROM translations "
            "WHERE segment_id = ? AND target_lang = ?", [segment_id, target_lang])
        items = [Translation(**r) for r in rows]
        return sorted(items, key=lambda t: PROVENANCE_RANK.get(t.provenance, 99))

    def best_translation(self, segment_id: int, target_lang: str = "en") -> Translation | None:
        items = self.translations(segment_id, target_lang)
        return items[0] if items else None

    def translation_memory(self, text: str, target_lang: str = "en") -> Translation | None:
        """A human-made or corpus translation of an identical segment elsewhere in the project."""
        rows = self._q(
            "SELECT t.segment_id, t.target_lang, t.text, t.provenance, t.model FROM translations t "
            "JOIN segments s ON s.id = t.segment_id WHERE s.text = ? AND t.target_lang = ? "
            "AND t.provenance IN ('human', 'corpus') ORDER BY t.provenance = 'human' DESC LIMIT 1",
            [text, target_lang])
        return Translation(**rows[0]) if rows else None

    def segments_without_translation(self, target_lang: str = "en", limit: int | None = None) -> list[Segment]:
        sql = ("SELECT * FROM segments s WHERE NOT EXISTS (SELECT 1 FROM translations t WHERE "
               "t.segment_id = s.id AND t.target_lang = ?) AND s.language != ? ORDER BY s.id")
        params: list[Any] = [target_lang, target_lang]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._segment(r) for r in self._q(sql, params)]

    # -------------------------------------------------------------- suggestions
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
        marks = ",".join("?" * len(versions))
        rows = self._q(
            f"SELECT segment_id, model_version, kind, label, score, start, \"end\", extra FROM suggestions "
            f"WHERE segment_id = ? AND model_version IN ({marks}) ORDER BY kind, score DESC",
            [segment_id, *versions])
        return [Suggestion(**{**r, "extra": json.loads(r["extra"] or "{}")}) for r in rows]

    def has_run(self, segment_id: int, model_version: str) -> bool:
        """Whether this model version has looked at the segment (whatever it found)."""
        return self._one("SELECT 1 FROM suggestion_runs WHERE segment_id = ? AND model_version = ?",
                         [segment_id, model_version]) is not None

    def run_info(self, segment_id: int, model_version: str) -> dict[str, Any]:
        """What a model run recorded beside its suggestions (``top`` frame scores, …)."""
        row = self._one("SELECT info FROM suggestion_runs WHERE segment_id = ? AND model_version = ?",
                        [segment_id, model_version])
        return json.loads(row) if row else {}

    def uncertainties(self, model_version: str, segment_ids: Sequence[int] | None = None) -> dict[int, float]:
        sql = "SELECT segment_id, uncertainty FROM suggestion_runs WHERE model_version = ? AND uncertainty IS NOT NULL"
        params: list[Any] = [model_version]
        rows = self.db.execute(sql, params).fetchall()
        if segment_ids is not None:
            wanted = set(segment_ids)
            return {s: u for s, u in rows if s in wanted}
        return dict(rows)

    def segments_missing_run(self, model_version: str, limit: int | None = None) -> list[Segment]:
        sql = ("SELECT * FROM segments s WHERE NOT EXISTS (SELECT 1 FROM suggestion_runs r WHERE "
               "r.segment_id = s.id AND r.model_version = ?) ORDER BY s.id")
        params: list[Any] = [model_version]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._segment(r) for r in self._q(sql, params)]

    def suggestion_counts(self) -> dict[str, int]:
        return {r["model_version"]: r["n"] for r in self._q(
            "SELECT model_version, COUNT(*) AS n FROM suggestion_runs GROUP BY model_version")}

    def frame_scores(self, model_version: str) -> dict[int, dict[str, float]]:
        """Every segment's frame scores from one version (for active-learning order)."""
        out: dict[int, dict[str, float]] = {}
        for seg, label, score in self.db.execute(
            "SELECT segment_id, label, score FROM suggestions WHERE model_version = ? AND kind = 'frame'",
            [model_version]):
            out.setdefault(seg, {})[label] = score
        return out

    # ------------------------------------------------------------------ models
    def register_model(self, version: str, kind: str, path: str, meta: dict[str, Any]) -> None:
        with self.write():
            self.db["models"].upsert(
                {"version": version, "kind": kind, "path": str(path),
                 "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True), "registered_at": utcnow()},
                pk="version")

    def set_active_model(self, kind: str, version: str) -> None:
        if self._one("SELECT 1 FROM models WHERE version = ?", [version]) is None:
            raise AnnotatorError(f"model version {version!r} is not registered in this project")
        with self.write():
            self.db.execute("INSERT OR REPLACE INTO active_models (kind, version) VALUES (?, ?)", [kind, version])

    def active_models(self) -> dict[str, str]:
        return {r["kind"]: r["version"] for r in self._q("SELECT kind, version FROM active_models")}

    def registered_models(self) -> list[dict[str, Any]]:
        rows = self._q("SELECT version, kind, path, meta, registered_at FROM models ORDER BY registered_at")
        for r in rows:
            r["meta"] = json.loads(r["meta"] or "{}")
        return rows

    def suggesting_versions(self) -> list[str]:
        """The model versions whose suggestions are shown: the active ones and the glossary."""
        active = self.active_models()
        versions = [v for k, v in active.items() if k in ("frames", "spans")]
        versions.append(GLOSSARY_VERSION)
        return versions

    # ---------------------------------------------------------------- glossary
    def add_glossary(self, entries: Iterable[GlossaryEntry]) -> int:
        with self.write():
            before = self._one("SELECT COUNT(*) FROM glossary")
            for e in entries:
                self.db.execute(
                    "INSERT INTO glossary (source_text, language, rendering, note, source) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (source_text, language) DO UPDATE SET rendering = excluded.rendering, "
                    "note = excluded.note, source = excluded.source",
                    [e.source_text, e.language, e.rendering, e.note, e.source])
            return self._one("SELECT COUNT(*) FROM glossary") - before

    def glossary(self, language: str | None = None) -> list[GlossaryEntry]:
        sql = "SELECT source_text, language, rendering, note, source FROM glossary"
        params: list[Any] = []
        if language:
            sql += " WHERE language = ?"
            params.append(language)
        return [GlossaryEntry(**r) for r in self._q(sql + " ORDER BY length(source_text) DESC", params)]

    # -------------------------------------------------------------- annotations
    def decide(self, segment_id: int, annotator: str, state: AnnotationState) -> str:
        """Record an annotator's decision for a segment; returns the history entry's uid."""
        uid = self.decide_with(segment_id, annotator, lambda _current: state)
        assert uid is not None
        return uid

    def decide_with(self, segment_id: int, annotator: str,
                    edit: Callable[[AnnotationState | None], AnnotationState | None],
                    wait: float | None = None) -> str | None:
        """Change a decision as a function of the current one, in one write transaction.

        ``edit`` gets the annotator's current state (``None``: no decision yet) and returns the
        new one, or ``None`` for "nothing to change". It runs after ``BEGIN IMMEDIATE``, so no
        other process or window can change the decision between the read and the write: a
        frame toggled in one window is never overwritten by another. Returns the history
        entry's uid, or ``None`` if nothing changed.
        """
        with self.write(wait):
            before = self._current_state(segment_id, annotator)
            state = edit(before)
            if state is None:
                return None
            self._check_state(state)
            uid = uuid.uuid4().hex
            self._apply(segment_id, annotator, state)
            self._history(uid, segment_id, annotator, "decide", state, before)
            self._push_undo(annotator, uid)
        return uid

    def annotation(self, segment_id: int, annotator: str) -> Annotation | None:
        rows = self._q("SELECT * FROM annotations WHERE segment_id = ? AND annotator = ?", [segment_id, annotator])
        return self._annotation(rows[0]) if rows else None

    def annotations_for(self, segment_id: int) -> list[Annotation]:
        return [self._annotation(r) for r in self._q(
            "SELECT * FROM annotations WHERE segment_id = ? ORDER BY annotator", [segment_id])]

    def statuses(self, segment_ids: Sequence[int], annotator: str) -> dict[int, str]:
        """Each segment's status for one annotator (for the list's icons)."""
        if not segment_ids:
            return {}
        marks = ",".join("?" * len(segment_ids))
        return {r[0]: r[1] for r in self.db.execute(
            f"SELECT segment_id, status FROM annotations WHERE annotator = ? AND segment_id IN ({marks})",
            [annotator, *segment_ids]).fetchall()}

    def segments_with_suggestions(self, segment_ids: Sequence[int]) -> set[int]:
        if not segment_ids:
            return set()
        versions = self.suggesting_versions()
        marks = ",".join("?" * len(segment_ids))
        vmarks = ",".join("?" * len(versions))
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT segment_id FROM suggestions WHERE segment_id IN ({marks}) "
            f"AND model_version IN ({vmarks})", [*segment_ids, *versions]).fetchall()}

    def iter_annotations(self, annotator: str | None = None) -> Iterator[Annotation]:
        sql, params = "SELECT * FROM annotations", []
        if annotator:
            sql += " WHERE annotator = ?"
            params.append(annotator)
        for r in self._q(sql + " ORDER BY segment_id, annotator", params):
            yield self._annotation(r)

    def history(self, segment_id: int | None = None, annotator: str | None = None) -> list[dict[str, Any]]:
        where, params = ["1=1"], []
        if segment_id is not None:
            where.append("segment_id = ?")
            params.append(segment_id)
        if annotator:
            where.append("annotator = ?")
            params.append(annotator)
        rows = self._q(f"SELECT * FROM annotation_history WHERE {' AND '.join(where)} ORDER BY id", params)
        for r in rows:
            r["state"] = AnnotationState.from_json(r["state"])
            r["before"] = AnnotationState.from_json(r["before"])
        return rows

    def undo(self, annotator: str, wait: float | None = None) -> int | None:
        """Undo the annotator's latest decision that is not undone; returns its segment id.

        Undo follows the annotator's own chain of decisions made in this project: decisions a
        merge brought in are never on the stack, and a decision of ours that a merge has since
        replaced on its segment is no longer in force, so it is passed over, never "undone"
        over the merged one. Each step reads a few rows by index, whatever the history's size.
        """
        with self.write(wait):
            while True:
                top = self.db.execute(
                    "SELECT u.position, h.uid, h.segment_id, h.state, h.before FROM undo_stack u "
                    "JOIN annotation_history h ON h.uid = u.history_uid WHERE u.annotator = ? AND u.undone = 0 "
                    "ORDER BY u.position DESC LIMIT 1", [annotator]).fetchone()
                if top is None:
                    return None
                position, uid, segment_id, state_json, before_json = top
                current = self._current_state(segment_id, annotator)
                if current != AnnotationState.from_json(state_json):
                    self._drop_from_stack(annotator, position)  # replaced by a merge since
                    continue
                restored = AnnotationState.from_json(before_json)
                self._apply(segment_id, annotator, restored)
                self._history(uuid.uuid4().hex, segment_id, annotator, "undo", restored, current, uid)
                self.db.execute("UPDATE undo_stack SET undone = 1 WHERE annotator = ? AND position = ?",
                                [annotator, position])
                return int(segment_id)

    def redo(self, annotator: str, wait: float | None = None) -> int | None:
        """Redo the latest undone decision (if nothing was decided since); returns its segment id."""
        with self.write(wait):
            while True:
                nxt = self.db.execute(
                    "SELECT u.position, h.uid, h.segment_id, h.state, h.before FROM undo_stack u "
                    "JOIN annotation_history h ON h.uid = u.history_uid WHERE u.annotator = ? AND u.undone = 1 "
                    "ORDER BY u.position LIMIT 1", [annotator]).fetchone()
                if nxt is None:
                    return None
                position, uid, segment_id, state_json, before_json = nxt
                current = self._current_state(segment_id, annotator)
                if current != AnnotationState.from_json(before_json):
                    self._drop_from_stack(annotator, position)  # the segment changed since the undo
                    continue
                state = AnnotationState.from_json(state_json)
                self._apply(segment_id, annotator, state)
                self._history(uuid.uuid4().hex, segment_id, annotator, "redo", state, current, uid)
                self.db.execute("UPDATE undo_stack SET undone = 0 WHERE annotator = ? AND position = ?",
                                [annotator, position])
                return int(segment_id)

    def _push_undo(self, annotator: str, uid: str) -> None:
        """A new decision: it goes on top of the undo stack, and what could be redone is gone."""
        self.db.execute("DELETE FROM undo_stack WHERE annotator = ? AND undone = 1", [annotator])
        self.db.execute(
            "INSERT INTO undo_stack (annotator, position, history_uid) VALUES "
            "(?, COALESCE((SELECT MAX(position) FROM undo_stack WHERE annotator = ?), 0) + 1, ?)",
            [annotator, annotator, uid])

    def _drop_from_stack(self, annotator: str, position: int) -> None:
        self.db.execute("DELETE FROM undo_stack WHERE annotator = ? AND position = ?", [annotator, position])

    def _current_state(self, segment_id: int, annotator: str) -> AnnotationState | None:
        ann = self.annotation(segment_id, annotator)
        return ann.state if ann else None

    def _apply(self, segment_id: int, annotator: str, state: AnnotationState | None) -> None:
        if state is None:
            self.db.execute("DELETE FROM annotations WHERE segment_id = ? AND annotator = ?", [segment_id, annotator])
            return
        now = utcnow()
        self.db.execute(
            "INSERT INTO annotations (segment_id, annotator, frames, spans, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (segment_id, annotator) DO UPDATE SET "
            "frames = excluded.frames, spans = excluded.spans, status = excluded.status, updated_at = excluded.updated_at",
            [segment_id, annotator, json.dumps(list(state.frames), ensure_ascii=False),
             json.dumps([s.to_dict() for s in state.spans]), state.status, now, now])

    def _history(self, uid: str, segment_id: int, annotator: str, action: str,
                 state: AnnotationState | None, before: AnnotationState | None, ref_uid: str | None = None,
                 created_at: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO annotation_history (uid, segment_id, annotator, action, ref_uid, state, before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [uid, segment_id, annotator, action, ref_uid, state.to_json() if state else None,
             before.to_json() if before else None, created_at or utcnow()])

    def _check_state(self, state: AnnotationState) -> None:
        if state.status not in ANNOTATION_STATUSES:
            raise AnnotatorError(f"unknown annotation status {state.status!r}; use one of {', '.join(ANNOTATION_STATUSES)}")
        for span in state.spans:
            if not (0 <= span.start < span.end):
                raise AnnotatorError(f"invalid span {span.start}-{span.end}")

    @staticmethod
    def _annotation(row: dict[str, Any]) -> Annotation:
        return annotation_from_row(row)

    # ------------------------------------------------------------- assignments
    def assign(self, pairs: Iterable[tuple[int, str]]) -> int:
        with self.write():
            now = utcnow()
            before = self._one("SELECT COUNT(*) FROM assignments")
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO assignments (segment_id, annotator, created_at) VALUES (?, ?, ?)",
                [(s, a, now) for s, a in pairs])
            return self._one("SELECT COUNT(*) FROM assignments") - before

    def assignments(self, annotator: str | None = None) -> list[tuple[int, str]]:
        sql, params = "SELECT segment_id, annotator FROM assignments", []
        if annotator:
            sql += " WHERE annotator = ?"
            params.append(annotator)
        return [tuple(r) for r in self.db.execute(sql + " ORDER BY segment_id, annotator", params).fetchall()]

    # ------------------------------------------------------------------- status
    def counts(self) -> dict[str, Any]:
        """What ``annotator status`` shows."""
        versions = self.suggesting_versions()
        out: dict[str, Any] = {
            "speeches": self._one("SELECT COUNT(*) FROM speeches"),
            "segments": self._one("SELECT COUNT(*) FROM segments"),
            "translated": self._one("SELECT COUNT(DISTINCT segment_id) FROM translations"),
            # Segments the active models (and the glossary) have looked at, whatever they found.
            "suggested": self._one(
                "SELECT COUNT(DISTINCT segment_id) FROM suggestion_runs WHERE model_version IN (%s)"
                % ",".join("?" * len(versions)), versions),
            "annotated": self._one("SELECT COUNT(DISTINCT segment_id) FROM annotations"),
            "glossary": self._one("SELECT COUNT(*) FROM glossary"),
        }
        out["languages"] = {r["language"] or "?": r["n"] for r in self._q(
            "SELECT language, COUNT(*) AS n FROM segments GROUP BY language ORDER BY n DESC")}
        out["speech_languages"] = {r["language"] or "?": r["n"] for r in self._q(
            "SELECT language, COUNT(*) AS n FROM speeches GROUP BY language ORDER BY n DESC")}
        per: dict[str, dict[str, int]] = {}
        for r in self._q("SELECT annotator, status, COUNT(*) AS n FROM annotations GROUP BY annotator, status"):
            per.setdefault(r["annotator"], {})[r["status"]] = r["n"]
        out["annotators"] = per
        out["translations_by_provenance"] = {r["provenance"]: r["n"] for r in self._q(
            "SELECT provenance, COUNT(*) AS n FROM translations GROUP BY provenance")}
        out["active_models"] = self.active_models()
        return out

    # ----------------------------------------------------------------- schemes
    def register_scheme(self, name: str, hash_: str, source: str, toml_text: str) -> None:
        with self.write():
            self.db["schemes"].upsert(
                {"name": name, "hash": hash_, "source": source, "toml": toml_text, "registered_at": utcnow()},
                pk="name")


GLOSSARY_VERSION = "glossary"


def _segment_row(seg: dict[str, Any] | tuple[int, int, str], text: str, lang: str) -> tuple[int, int, str, str]:
    if isinstance(seg, tuple):
        start, end, seg_lang = seg
        return start, end, text[start:end], seg_lang or lang
    return seg["start"], seg["end"], seg["text"], seg.get("language") or lang

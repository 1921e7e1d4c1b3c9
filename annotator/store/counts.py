"""The project at a glance: what ``annotator status`` shows."""

from __future__ import annotations

from typing import Any

from annotator.store.base import StorePart, marks, scalar


class Counts(StorePart):
    def counts(self) -> dict[str, Any]:
        """What ``annotator status`` shows."""
        versions = self.suggesting_versions()

        def count(sql: str, params: list[str] | None = None) -> int:
            return scalar(self.db, sql, params or [])

        def by(key: str, sql: str) -> dict[str, int]:
            return {r[key] or "?": r["n"] for r in self.db.query(sql)}

        out: dict[str, Any] = {
            "speeches": count("SELECT COUNT(*) FROM speeches"),
            "segments": count("SELECT COUNT(*) FROM segments"),
            "translated": count("SELECT COUNT(DISTINCT segment_id) FROM translations"),
            # Segments the active models (and the glossary) have looked at, whatever they found.
            "suggested": count(
                f"SELECT COUNT(DISTINCT segment_id) FROM suggestion_runs WHERE model_version IN ({marks(versions)})",
                versions),
            "annotated": count("SELECT COUNT(DISTINCT segment_id) FROM annotations"),
            "speeches_annotated": count("SELECT COUNT(DISTINCT speech_id) FROM speech_annotations"),
            "glossary": count("SELECT COUNT(*) FROM glossary"),
        }
        out["languages"] = by(
            "language", "SELECT language, COUNT(*) AS n FROM segments GROUP BY language ORDER BY n DESC")
        out["speech_languages"] = by(
            "language", "SELECT language, COUNT(*) AS n FROM speeches GROUP BY language ORDER BY n DESC")
        per: dict[str, dict[str, int]] = {}
        for r in self.db.query("SELECT annotator, status, COUNT(*) AS n FROM annotations GROUP BY annotator, status"):
            per.setdefault(r["annotator"], {})[r["status"]] = r["n"]
        out["annotators"] = per
        # the names whose decisions are pre-annotations (``store.priors``)
        out["priors"] = [r[0] for r in self.db.execute("SELECT annotator FROM prior_annotators ORDER BY annotator")]
        out["translations_by_provenance"] = {r["provenance"]: r["n"] for r in self.db.query(
            "SELECT provenance, COUNT(*) AS n FROM translations GROUP BY provenance")}
        out["active_models"] = self.active_models()
        return out

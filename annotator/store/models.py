"""Trained models registered in the project, and which one is active for each kind."""

from __future__ import annotations

import json
from typing import Any

from annotator.errors import AnnotatorError
from annotator.model_kinds import SUGGESTING_KINDS
from annotator.store.base import StorePart, first, scalar, utcnow

# The "model version" under which glossary matches are stored as suggestions.
GLOSSARY_VERSION = "glossary"


class Models(StorePart):
    def register_model(self, version: str, kind: str, path: str, meta: dict[str, Any]) -> None:
        with self.write():
            self.db["models"].upsert(
                {"version": version, "kind": kind, "path": str(path),
                 "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True), "registered_at": utcnow()},
                pk="version")

    def set_active_model(self, kind: str, version: str) -> None:
        if scalar(self.db, "SELECT 1 FROM models WHERE version = ?", [version]) is None:
            raise AnnotatorError(f"model version {version!r} is not registered in this project")
        with self.write():
            if scalar(self.db, "SELECT version FROM active_models WHERE kind = ?", [kind]) != version:
                self.db.execute("INSERT INTO model_activations (kind, version, activated_at) VALUES (?, ?, ?)",
                                [kind, version, utcnow()])
            self.db.execute("INSERT OR REPLACE INTO active_models (kind, version) VALUES (?, ?)", [kind, version])

    def active_models(self) -> dict[str, str]:
        return {r["kind"]: r["version"] for r in self.db.query("SELECT kind, version FROM active_models")}

    def ever_active_versions(self) -> dict[str, str]:
        """Each version that was the active one of its kind at some time: when it first became so."""
        return {r["version"]: r["first"] for r in self.db.query(
            "SELECT version, MIN(activated_at) AS first FROM model_activations GROUP BY version")}

    def model_meta(self, version: str) -> dict[str, Any]:
        """A registered version's meta (its labels, per-label thresholds, scores); empty if unknown."""
        meta = scalar(self.db, "SELECT meta FROM models WHERE version = ?", [version])
        return json.loads(meta) if meta else {}

    def registered_models(self) -> list[dict[str, Any]]:
        rows = list(self.db.query("SELECT version, kind, path, meta, registered_at FROM models ORDER BY registered_at"))
        for r in rows:
            r["meta"] = json.loads(r["meta"] or "{}")
        return rows

    def registered_model(self, version: str | None) -> dict[str, Any] | None:
        """One registered version as :meth:`registered_models` lists it (version, kind, path,
        meta, registered_at); None if ``version`` is not registered."""
        row = first(self.db, "SELECT version, kind, path, meta, registered_at FROM models WHERE version = ?", [version])
        if row is not None:
            row["meta"] = json.loads(row["meta"] or "{}")
        return row

    def suggesting_versions(self) -> list[str]:
        """The model versions whose suggestions are shown: the active ones and the glossary."""
        active = self.active_models()
        versions = [v for k, v in active.items() if k in SUGGESTING_KINDS]
        versions.append(GLOSSARY_VERSION)
        return versions

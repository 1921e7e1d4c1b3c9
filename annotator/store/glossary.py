"""The project glossary: renderings of set phrases, matched in segments as suggestions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from annotator.store.base import StorePart, scalar
from annotator.store.records import GlossaryEntry


class Glossary(StorePart):
    def add_glossary(self, entries: Iterable[GlossaryEntry]) -> int:
        """Add or update entries (one per phrase and language); returns how many are new."""
        with self.write():
            before = scalar(self.db, "SELECT COUNT(*) FROM glossary")
            for e in entries:
                self.db.execute(
                    "INSERT INTO glossary (source_text, language, rendering, note, source) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (source_text, language) DO UPDATE SET rendering = excluded.rendering, "
                    "note = excluded.note, source = excluded.source",
                    [e.source_text, e.language, e.rendering, e.note, e.source])
            return scalar(self.db, "SELECT COUNT(*) FROM glossary") - before

    def glossary(self, language: str | None = None) -> list[GlossaryEntry]:
        sql = "SELECT source_text, language, rendering, note, source FROM glossary"
        params: list[Any] = []
        if language:
            sql += " WHERE language = ?"
            params.append(language)
        return [GlossaryEntry(**r) for r in self.db.query(sql + " ORDER BY length(source_text) DESC", params)]

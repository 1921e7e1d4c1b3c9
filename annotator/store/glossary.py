"""The project glossary: renderings of set phrases, matched in segments as suggestions."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from annotator.store.base import StorePart, first, marks, scalar
from annotator.store.records import GlossaryEntry, Segment, segment_from_row

GLOSSARY_FIELDS = "source_text, language, rendering, note, source, variants"
NEEDLES_PER_QUERY = 400  # bound variables per query, well under SQLite's limit


class Glossary(StorePart):
    def add_glossary(self, entries: Iterable[GlossaryEntry]) -> int:
        """Add or update entries (one per phrase and language); returns how many are new."""
        with self.write():
            before = scalar(self.db, "SELECT COUNT(*) FROM glossary")
            for e in entries:
                self._upsert(e)
            return scalar(self.db, "SELECT COUNT(*) FROM glossary") - before

    def _upsert(self, e: GlossaryEntry) -> None:
        self.db.execute(
            f"INSERT INTO glossary ({GLOSSARY_FIELDS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (source_text, language) DO UPDATE SET rendering = excluded.rendering, "
            "note = excluded.note, source = excluded.source, variants = excluded.variants",
            [e.source_text, e.language, e.rendering, e.note, e.source, e.variants])

    def add_seed_glossary(self, entries: Iterable[GlossaryEntry], seed_sources: Collection[str]
                          ) -> tuple[list[GlossaryEntry], list[GlossaryEntry]]:
        """The shipped glossary, into a project that may have an older copy of it: entries the
        project lacks are added, entries the seed still owns (whose ``source`` is one the seed
        gives, or gave: ``seed_sources``) are brought up to date, and those of them the seed no
        longer has are removed; an entry someone changed (imported or added by hand) stays as it
        is. Returns the entries added or changed, and those removed."""
        entries = list(entries)
        changed = []
        with self.write():
            keys = {(e.source_text, e.language) for e in entries}
            removed = [GlossaryEntry(**r) for r in self.db.query(
                f"SELECT {GLOSSARY_FIELDS} FROM glossary WHERE source IN ({marks(list(seed_sources))})",
                list(seed_sources)) if (r["source_text"], r["language"]) not in keys]
            for e in removed:
                self.db.execute("DELETE FROM glossary WHERE source_text = ? AND language = ?", [e.source_text, e.language])
            for e in entries:
                row = first(self.db, f"SELECT {GLOSSARY_FIELDS} FROM glossary WHERE source_text = ? AND language = ?",
                            [e.source_text, e.language])
                if row is not None and (GlossaryEntry(**row) == e or row["source"] not in seed_sources):
                    continue
                self._upsert(e)
                changed.append(e)
        return changed, removed

    def glossary(self, language: str | None = None) -> list[GlossaryEntry]:
        sql = f"SELECT {GLOSSARY_FIELDS} FROM glossary"
        params: list[Any] = []
        if language:
            sql += " WHERE language = ?"
            params.append(language)
        return [GlossaryEntry(**r) for r in self.db.query(sql + " ORDER BY length(source_text) DESC", params)]

    def glossary_listing(self) -> list[GlossaryEntry]:
        """Every entry in the order it was added (the seed's, then the project's own)."""
        return [GlossaryEntry(**r) for r in self.db.query(f"SELECT {GLOSSARY_FIELDS} FROM glossary ORDER BY id")]

    def glossary_entry(self, source_text: str, language: str) -> GlossaryEntry | None:
        row = first(self.db, f"SELECT {GLOSSARY_FIELDS} FROM glossary WHERE source_text = ? AND language = ?",
                    [source_text, language])
        return GlossaryEntry(**row) if row else None

    def segments_containing(self, needles: Sequence[str], ignore_case: bool = False) -> list[Segment]:
        """Segments whose text contains one of ``needles`` (a first cut, by substring; with
        ``ignore_case``, ASCII letters in any case), in id order."""
        needles = [n.lower() if ignore_case else n for n in dict.fromkeys(needles) if n]
        column = "lower(text)" if ignore_case else "text"
        found: dict[int, Segment] = {}
        for i in range(0, len(needles), NEEDLES_PER_QUERY):
            part = needles[i:i + NEEDLES_PER_QUERY]
            where = " OR ".join(f"instr({column}, ?) > 0" for _ in part)
            for row in self.db.query(f"SELECT * FROM segments WHERE {where}", part):
                found[row["id"]] = segment_from_row(row)
        return [found[i] for i in sorted(found)]

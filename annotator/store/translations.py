"""Translations of segments: from people, corpora, the translation memory, models, glosses."""

from __future__ import annotations

from typing import Any

from annotator.store.base import StorePart, first, utcnow
from annotator.store.records import Segment, Translation, segment_from_row
from annotator.store.schema import TRANSLATION_PROVENANCES

# Which translation to show first when a segment has several.
PROVENANCE_RANK = {p: i for i, p in enumerate(TRANSLATION_PROVENANCES)}

TRANSLATION_FIELDS = "segment_id, target_lang, text, provenance, model"


class Translations(StorePart):
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
        items = [Translation(**r) for r in self.db.query(
            f"SELECT {TRANSLATION_FIELDS} FROM translations WHERE segment_id = ? AND target_lang = ?",
            [segment_id, target_lang])]
        return sorted(items, key=lambda t: PROVENANCE_RANK.get(t.provenance, 99))

    def best_translation(self, segment_id: int, target_lang: str = "en") -> Translation | None:
        items = self.translations(segment_id, target_lang)
        return items[0] if items else None

    def translation_memory(self, text: str, target_lang: str = "en") -> Translation | None:
        """A human-made or corpus translation of an identical segment elsewhere in the project."""
        row = first(
            self.db,
            "SELECT t.segment_id, t.target_lang, t.text, t.provenance, t.model FROM translations t "
            "JOIN segments s ON s.id = t.segment_id WHERE s.text = ? AND t.target_lang = ? "
            "AND t.provenance IN ('human', 'corpus') ORDER BY t.provenance = 'human' DESC LIMIT 1",
            [text, target_lang])
        return Translation(**row) if row else None

    def segments_without_translation(self, target_lang: str = "en", limit: int | None = None) -> list[Segment]:
        sql = ("SELECT * FROM segments s WHERE NOT EXISTS (SELECT 1 FROM translations t WHERE "
               "t.segment_id = s.id AND t.target_lang = ?) AND s.language != ? ORDER BY s.id")
        params: list[Any] = [target_lang, target_lang]
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [segment_from_row(r) for r in self.db.query(sql, params)]

    def replace_translation(self, segment_id: int, target_lang: str, text: str, provenance: str, model: str = "") -> None:
        """This segment's translation of one provenance, in place of the ones it had (a gloss
        made again by a newer glosser, whose name differs)."""
        with self.write():
            self.db.execute("DELETE FROM translations WHERE segment_id = ? AND target_lang = ? AND provenance = ?",
                            [segment_id, target_lang, provenance])
            self.add_translation(segment_id, target_lang, text, provenance, model)

    def segments_with_translation(self, provenance: str, target_lang: str = "en",
                                  except_model: str | None = None) -> list[Segment]:
        """Segments with a translation of this provenance (made by another ``model`` than
        ``except_model``, where given), in id order."""
        sql = ("SELECT s.* FROM segments s WHERE EXISTS (SELECT 1 FROM translations t WHERE t.segment_id = s.id "
               "AND t.target_lang = ? AND t.provenance = ?")
        params: list[Any] = [target_lang, provenance]
        if except_model is not None:
            sql += " AND t.model != ?"
            params.append(except_model)
        return [segment_from_row(r) for r in self.db.query(sql + ") ORDER BY s.id", params)]

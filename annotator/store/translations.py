"""Translations of segments: from people, corpora, the translation memory, models, glosses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotator.store.base import StorePart, first, marks, utcnow
from annotator.store.records import Segment, SpeechTranslation, Translation, segment_from_row
from annotator.store.schema import TRANSLATION_PROVENANCES

# Which translation to show first when a segment has several.
PROVENANCE_RANK = {p: i for i, p in enumerate(TRANSLATION_PROVENANCES)}

TRANSLATION_FIELDS = "segment_id, target_lang, text, provenance, model, alignment, score"
ALIGNED_BY_POSITION = "position"


class Translations(StorePart):
    def add_translation(self, segment_id: int, target_lang: str, text: str, provenance: str, model: str = "",
                        alignment: str = "", score: float | None = None) -> None:
        if provenance not in TRANSLATION_PROVENANCES:
            raise ValueError(f"unknown provenance {provenance!r}")
        with self.write():
            self.db.execute(
                "INSERT INTO translations (segment_id, target_lang, text, provenance, model, alignment, score, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (segment_id, target_lang, provenance, model) "
                "DO UPDATE SET text = excluded.text, alignment = excluded.alignment, score = excluded.score, "
                "created_at = excluded.created_at",
                [segment_id, target_lang, text, provenance, model, alignment, score, utcnow()],
            )

    def translations(self, segment_id: int, target_lang: str = "en") -> list[Translation]:
        items = [Translation(**r) for r in self.db.query(
            f"SELECT {TRANSLATION_FIELDS} FROM translations WHERE segment_id = ? AND target_lang = ?",
            [segment_id, target_lang])]
        return sorted(items, key=lambda t: PROVENANCE_RANK.get(t.provenance, 99))

    def best_translation(self, segment_id: int, target_lang: str = "en") -> Translation | None:
        items = self.translations(segment_id, target_lang)
        return items[0] if items else None

    # ------------------------------------------------------------ a corpus's whole-speech translations
    def add_speech_translation(self, speech_id: int, target_lang: str, text: str, source: str,
                               aligned_by: str = ALIGNED_BY_POSITION) -> None:
        with self.write():
            self.db.execute(
                "INSERT INTO speech_translations (speech_id, target_lang, text, source, aligned_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (speech_id, target_lang) DO UPDATE SET text = excluded.text, "
                "source = excluded.source, aligned_by = excluded.aligned_by, created_at = excluded.created_at",
                [speech_id, target_lang, text, source, aligned_by, utcnow()])

    def speech_translations(self, not_aligned_by: str | None = None, aligned_by: str | None = None,
                            target_lang: str = "en") -> list[SpeechTranslation]:
        """The corpus's translations of whole speeches (those aligned, or not, by a method)."""
        sql = "SELECT speech_id, target_lang, text, source, aligned_by FROM speech_translations WHERE target_lang = ?"
        params: list[Any] = [target_lang]
        if not_aligned_by is not None:
            sql += " AND aligned_by != ?"
            params.append(not_aligned_by)
        if aligned_by is not None:
            sql += " AND aligned_by = ?"
            params.append(aligned_by)
        return [SpeechTranslation(**r) for r in self.db.query(sql + " ORDER BY speech_id", params)]

    def corpus_translated_count(self, speech_id: int, target_lang: str = "en") -> int:
        """How many of a speech's segments have a corpus translation."""
        return self.db.execute(
            "SELECT COUNT(DISTINCT t.segment_id) FROM translations t JOIN segments s ON s.id = t.segment_id "
            "WHERE s.speech_id = ? AND t.target_lang = ? AND t.provenance = 'corpus'",
            [speech_id, target_lang]).fetchone()[0]

    def replace_corpus_translations(self, speech: SpeechTranslation, aligned_by: str,
                                    items: Sequence[tuple[int, str, str, float | None]]) -> None:
        """Put ``items`` (segment id, text, alignment, score) in place of the corpus translations
        of ``speech``'s segments, in one transaction. Translations the memory copied from them
        go too (``suggest`` copies them again), and so do the segments' failed attempts."""
        with self.write():
            ids = [r[0] for r in self.db.execute("SELECT id FROM segments WHERE speech_id = ?", [speech.speech_id])]
            if ids:
                self.db.execute(f"DELETE FROM translations WHERE provenance = 'corpus' AND target_lang = ? "
                                f"AND segment_id IN ({marks(ids)})", [speech.target_lang, *ids])
                self.db.execute(f"DELETE FROM translations WHERE provenance = 'memory' AND target_lang = ? "
                                f"AND model IN ({marks(ids)})", [speech.target_lang, *(f"segment {i}" for i in ids)])
                self.db.execute(f"DELETE FROM translation_attempts WHERE target_lang = ? "
                                f"AND segment_id IN ({marks(ids)})", [speech.target_lang, *ids])
            now = utcnow()
            self.db.conn.executemany(
                "INSERT INTO translations (segment_id, target_lang, text, provenance, model, alignment, score, "
                "created_at) VALUES (?, ?, ?, 'corpus', ?, ?, ?, ?)",
                [(segment_id, speech.target_lang, text, speech.source, alignment, score, now)
                 for segment_id, text, alignment, score in items])
            self.db.execute("UPDATE speech_translations SET aligned_by = ? WHERE speech_id = ? AND target_lang = ?",
                            [aligned_by, speech.speech_id, speech.target_lang])

    def translation_memory(self, text: str, target_lang: str = "en") -> Translation | None:
        """A human-made or corpus translation of an identical segment elsewhere in the project."""
        row = first(
            self.db,
            "SELECT t.segment_id, t.target_lang, t.text, t.provenance, t.model, t.alignment, t.score "
            "FROM translations t "
            "JOIN segments s ON s.id = t.segment_id WHERE s.text = ? AND t.target_lang = ? "
            "AND t.provenance IN ('human', 'corpus') ORDER BY t.provenance = 'human' DESC LIMIT 1",
            [text, target_lang])
        return Translation(**row) if row else None

    def segments_without_translation(self, target_lang: str = "en", limit: int | None = None,
                                     sources: str | None = None) -> list[Segment]:
        """Segments not in ``target_lang`` that have no translation into it; with ``sources``,
        not those that these same sources already failed to translate."""
        sql = ("SELECT * FROM segments s WHERE NOT EXISTS (SELECT 1 FROM translations t WHERE "
               "t.segment_id = s.id AND t.target_lang = ?) AND s.language != ?")
        params: list[Any] = [target_lang, target_lang]
        if sources is not None:
            sql += (" AND NOT EXISTS (SELECT 1 FROM translation_attempts a WHERE a.segment_id = s.id "
                    "AND a.target_lang = ? AND a.sources = ?)")
            params += [target_lang, sources]
        sql += " ORDER BY s.id"
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

    # ------------------------------------------------------------ what no source could translate
    def record_untranslatable(self, segment_ids: Sequence[int], target_lang: str, sources: str) -> None:
        """Remember that ``sources`` (``services.suggest.translation_sources``) gave these
        segments no translation, so that they are tried again only when the sources change."""
        now = utcnow()
        with self.write():
            self.db.conn.executemany(
                "INSERT INTO translation_attempts (segment_id, target_lang, sources, tried_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (segment_id, target_lang) DO UPDATE SET sources = excluded.sources, "
                "tried_at = excluded.tried_at", [(i, target_lang, sources, now) for i in segment_ids])

    def untranslatable_with(self, segment_id: int, target_lang: str = "en") -> str | None:
        """The sources that last failed to translate this segment, or ``None`` if none has."""
        row = first(self.db, "SELECT sources FROM translation_attempts WHERE segment_id = ? AND target_lang = ?",
                    [segment_id, target_lang])
        return row["sources"] if row else None

"""Speeches: adding one with its segments, reading them back."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from annotator.errors import AnnotatorError
from annotator.store.base import StorePart, first, scalar, utcnow
from annotator.store.records import Speech, speech_from_row

KEY_LENGTH = 16  # of a speech's key: the start of its content hash


def content_hash(text: str) -> str:
    """A speech's content hash: sha256 of its text (what identifies it across projects)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def speech_key(content_hash: str) -> str:
    """The stable id of a speech across projects: the start of its content hash. Its segments'
    uids start with it, and the train/dev/test split keeps each speech's side under it."""
    return content_hash[:KEY_LENGTH]


# Every column but the text, which can be long.
SPEECH_FIELDS = "id, title, speaker, date, venue, language, source, licence, external_id, content_hash"


class Speeches(StorePart):
    def has_speech(self, content_hash: str) -> bool:
        return scalar(self.db, "SELECT 1 FROM speeches WHERE content_hash = ?", [content_hash]) is not None

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
            prefix = speech_key(speech["content_hash"])
            lang = speech.get("language") or ""
            self.db.conn.executemany(
                'INSERT INTO segments (uid, speech_id, position, start, "end", text, language) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(f"{prefix}:{i}", speech_id, i, *_segment_row(seg, speech["text"], lang))
                 for i, seg in enumerate(segments)],
            )
        return int(speech_id)

    def speech(self, speech_id: int, with_text: bool = False) -> Speech:
        row = first(self.db, f"SELECT {'*' if with_text else SPEECH_FIELDS} FROM speeches WHERE id = ?", [speech_id])
        if row is None:
            raise AnnotatorError(f"no speech with id {speech_id}")
        return speech_from_row(row)

    def speeches(self) -> list[Speech]:
        return [speech_from_row(r) for r in self.db.query(f"SELECT {SPEECH_FIELDS} FROM speeches ORDER BY id")]

    def speech_containing(self, text: str) -> tuple[int, int] | None:
        """``(speech id, offset)`` of the first speech whose text contains ``text``."""
        row = self.db.execute("SELECT id, instr(text, ?) - 1 FROM speeches WHERE instr(text, ?) > 0 "
                              "ORDER BY id LIMIT 1", [text, text]).fetchone()
        return (row[0], row[1]) if row else None


def _segment_row(seg: dict[str, Any] | tuple[int, int, str], text: str, lang: str) -> tuple[int, int, str, str]:
    if isinstance(seg, tuple):
        start, end, seg_lang = seg
        return start, end, text[start:end], seg_lang or lang
    return seg["start"], seg["end"], seg["text"], seg.get("language") or lang

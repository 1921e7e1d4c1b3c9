"""Segments: reading them by id, by speech, by text, or all of them in batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from annotator.errors import AnnotatorError
from annotator.store.base import StorePart, first, marks, scalar
from annotator.store.records import Segment, segment_from_row


class Segments(StorePart):
    def segment(self, segment_id: int) -> Segment:
        row = first(self.db, "SELECT * FROM segments WHERE id = ?", [segment_id])
        if row is None:
            raise AnnotatorError(f"no segment with id {segment_id}")
        return segment_from_row(row)

    def segments(self, ids: Sequence[int]) -> list[Segment]:
        """Segments by id, in the order of ``ids`` (for one visible page of a list)."""
        if not ids:
            return []
        by_id = {r["id"]: segment_from_row(r)
                 for r in self.db.query(f"SELECT * FROM segments WHERE id IN ({marks(ids)})", list(ids))}
        return [by_id[i] for i in ids if i in by_id]

    def segment_with_text(self, text: str) -> Segment | None:
        """The first segment whose text is exactly ``text``."""
        row = first(self.db, "SELECT * FROM segments WHERE text = ? ORDER BY id LIMIT 1", [text])
        return segment_from_row(row) if row else None

    def segments_of_speech(self, speech_id: int) -> list[Segment]:
        return [segment_from_row(r) for r in self.db.query(
            "SELECT * FROM segments WHERE speech_id = ? ORDER BY position", [speech_id])]

    def speech_segment_texts(self, speech_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
        """Each speech's segments as (id, text), in order: the speeches' context, for many at once."""
        out: dict[int, list[tuple[int, str]]] = {}
        ids = sorted(set(speech_ids))
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            for speech_id, segment_id, text in self.db.execute(
                    f"SELECT speech_id, id, text FROM segments WHERE speech_id IN ({marks(part)}) "
                    "ORDER BY speech_id, position", part):
                out.setdefault(speech_id, []).append((segment_id, text))
        return out

    def neighbours(self, segment_id: int) -> tuple[Segment | None, Segment | None]:
        """The segments just before and just after this one in its speech (``None`` at either end)."""
        seg = self.segment(segment_id)
        before = first(self.db, "SELECT * FROM segments WHERE speech_id = ? AND position < ? "
                                "ORDER BY position DESC LIMIT 1", [seg.speech_id, seg.position])
        after = first(self.db, "SELECT * FROM segments WHERE speech_id = ? AND position > ? "
                               "ORDER BY position LIMIT 1", [seg.speech_id, seg.position])
        return (segment_from_row(before) if before else None), (segment_from_row(after) if after else None)

    def segments_per_language(self, per_language: int, except_language: str = "",
                              min_chars: int = 8, max_chars: int = 300) -> list[Segment]:
        """The first ``per_language`` segments of each language (not ``except_language``) of
        ``min_chars``..``max_chars`` characters: a small sample of real texts in every language."""
        rows = self.db.query(
            "SELECT * FROM (SELECT s.*, ROW_NUMBER() OVER (PARTITION BY language ORDER BY id) AS nth "
            "FROM segments s WHERE language != '' AND language != ? AND length(text) BETWEEN ? AND ?) "
            "WHERE nth <= ? ORDER BY language, id", [except_language, min_chars, max_chars, per_language])
        return [segment_from_row(r) for r in rows]

    def sample_segment_texts(self, n: int, min_chars: int = 20, max_chars: int = 400) -> list[str]:
        """About ``n`` segment texts spread over the project, the same ones each time."""
        return [r[0] for r in self.db.execute(
            "SELECT text FROM segments WHERE length(text) BETWEEN ? AND ? ORDER BY (id * 2654435761) % 1000003 "
            "LIMIT ?", [min_chars, max_chars, n])]

    def segment_count(self) -> int:
        return int(scalar(self.db, "SELECT COUNT(*) FROM segments") or 0)

    def iter_segments(self, batch: int = 1000) -> Iterator[Segment]:
        last = 0
        while True:
            rows = list(self.db.query("SELECT * FROM segments WHERE id > ? ORDER BY id LIMIT ?", [last, batch]))
            if not rows:
                return
            for r in rows:
                yield segment_from_row(r)
            last = rows[-1]["id"]

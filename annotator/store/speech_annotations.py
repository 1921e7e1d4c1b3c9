"""Decisions on whole speeches: each annotator's frames for a speech, saved at once in one write
transaction, with the same append-only history and undo stack as the segments' decisions (one
implementation of both: :mod:`annotator.store.decision_log`), over their own tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from annotator.store.base import StorePart
from annotator.store.decision_log import SPEECH_DECISIONS, DecisionLog
from annotator.store.records import AnnotationState, SpeechAnnotation, speech_annotation_from_row


class SpeechAnnotations(StorePart):
    @property
    def _speech_log(self) -> DecisionLog:
        return DecisionLog(self.db, SPEECH_DECISIONS)

    def decide_speech(self, speech_id: int, annotator: str, state: AnnotationState) -> str:
        """Record an annotator's frames for a whole speech; returns the history entry's uid."""
        uid = self.decide_speech_with(speech_id, annotator, lambda _current: state)
        assert uid is not None
        return uid

    def decide_speech_with(self, speech_id: int, annotator: str,
                           edit: Callable[[AnnotationState | None], AnnotationState | None],
                           wait: float | None = None) -> str | None:
        """Change a speech decision as a function of the current one, in one write transaction
        (as ``Store.decide_with`` does for a segment); ``None`` if nothing changed."""
        with self.write(wait):
            return self._speech_log.decide_with(speech_id, annotator, edit)

    def speech_annotation(self, speech_id: int, annotator: str) -> SpeechAnnotation | None:
        row = self._speech_log.row(speech_id, annotator)
        return speech_annotation_from_row(row) if row else None

    def iter_speech_annotations(self, annotator: str | None = None) -> Iterator[SpeechAnnotation]:
        sql, params = "SELECT * FROM speech_annotations", []
        if annotator:
            sql += " WHERE annotator = ?"
            params.append(annotator)
        for r in list(self.db.query(sql + " ORDER BY speech_id, annotator", params)):
            yield speech_annotation_from_row(r)

    def speech_history(self, speech_id: int | None = None, annotator: str | None = None) -> list[dict[str, Any]]:
        return self._speech_log.history(speech_id, annotator)

    def undo_speech(self, annotator: str, wait: float | None = None) -> int | None:
        """Undo the annotator's latest decision on a speech; returns the speech id (see ``Store.undo``)."""
        with self.write(wait):
            return self._speech_log.step("undo", annotator)

    def redo_speech(self, annotator: str, wait: float | None = None) -> int | None:
        with self.write(wait):
            return self._speech_log.step("redo", annotator)

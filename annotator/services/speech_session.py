"""The speech view's service: a whole speech, what the models suggest for it, and the
annotator's frames for it, decided with the same rules as a segment's (``session.next_state``)
and saved at once, each in one write transaction (``Store.decide_speech_with``). Never imports
Textual, never writes SQL.

A decision that meets a busy database is not kept pending (as the segments' are): it is not
saved, the view keeps showing what is saved, and the caller says so; the annotator presses the
key again once the lock is free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from annotator.schemes import Label, Scheme
from annotator.services.session import DECIDED, SUGGESTED, UNTOUCHED, Edit, next_state
from annotator.services.speech_suggest import speech_version
from annotator.store import AnnotationState, Speech, Store
from annotator.store.records import SpeechScore


@dataclass(frozen=True)
class SpeechFrameRow:
    """One label of the speech's checklist."""

    label: Label
    checked: bool
    score: float | None  # the speech's score for it, where the model gave one
    threshold: float | None  # and the threshold the score is judged by
    suggested: bool


@dataclass(frozen=True)
class SpeechView:
    """Everything the speech view shows."""

    speech: Speech  # with its text
    segments: int
    status: str
    frames: tuple[SpeechFrameRow, ...]
    version: str | None  # the model version the scores come from
    has_scores: bool


class SpeechDecisions:
    """One annotator's frames for whole speeches (``annotator``: adjudicator:<user> in
    adjudication mode, as for the segments)."""

    def __init__(self, store: Store, annotator: str, scheme: Scheme, wait: float = 0.2) -> None:
        self.store, self.annotator, self.scheme, self.wait = store, annotator, scheme, wait

    def scores(self, speech_id: int) -> list[SpeechScore]:
        version = speech_version(self.store)
        return self.store.speech_scores(speech_id, version) if version else []

    def suggested_state(self, speech_id: int) -> AnnotationState:
        """The suggestions as a decision: the frames whose score reaches its threshold."""
        chosen = {s.label for s in self.scores(speech_id) if s.suggested}
        return AnnotationState(tuple(sorted(chosen, key=self._frame_order)), (), "accepted")

    def decision(self, speech_id: int) -> AnnotationState | None:
        ann = self.store.speech_annotation(speech_id, self.annotator)
        return ann.state if ann else None

    def view(self, speech_id: int) -> SpeechView:
        scores = {s.label: s for s in self.scores(speech_id)}
        decided = self.decision(speech_id)
        working = decided if decided is not None and decided.status in DECIDED else self.suggested_state(speech_id)
        rows = tuple(SpeechFrameRow(lab, lab.id in working.frames,
                                    scores[lab.id].score if lab.id in scores else None,
                                    scores[lab.id].threshold if lab.id in scores else None,
                                    lab.id in scores and scores[lab.id].suggested)
                     for lab in self.scheme.frames)
        status = decided.status if decided is not None else (SUGGESTED if scores else UNTOUCHED)
        return SpeechView(self.store.speech(speech_id, with_text=True), len(self.store.segments_of_speech(speech_id)),
                          status, rows, speech_version(self.store), bool(scores))

    def missing_scores(self, speech_ids: Sequence[int]) -> list[int]:
        """Of these speeches, those the shown version has not scored yet."""
        version = speech_version(self.store)
        if version is None:
            return []
        missing = set(self.store.speeches_without_scores(version))
        return [i for i in speech_ids if i in missing]

    # ---------------------------------------------------------------- deciding
    def _decide(self, speech_id: int, edit: Edit) -> bool:
        """Save one edit now (raises ``DatabaseBusy`` if another process holds the write lock,
        ``DiskFull`` if the disk is full); True if it changed the decision."""
        suggested = self.suggested_state(speech_id)
        uid = self.store.decide_speech_with(
            speech_id, self.annotator, lambda current: next_state(edit, current, suggested, self._frame_order),
            wait=self.wait)
        return uid is not None

    def toggle_frame(self, speech_id: int, label: str) -> bool:
        """Add or remove a frame of the speech; saved at once as ``corrected``."""
        if self.scheme.frame(label) is None:
            raise ValueError(f"unknown frame {label!r} in scheme {self.scheme.name!r}")
        return self._decide(speech_id, Edit(speech_id, "toggle", label=label))

    def accept(self, speech_id: int) -> bool:
        """Save the speech's frames as they stand: ``accepted`` if they are the suggested ones."""
        return self._decide(speech_id, Edit(speech_id, "accept"))

    def reject(self, speech_id: int) -> bool:
        """No frame for this speech as a whole."""
        return self._decide(speech_id, Edit(speech_id, "rejected"))

    def undo(self) -> int | None:
        """Undo the annotator's latest decision on a speech; returns its speech id."""
        return self.store.undo_speech(self.annotator, wait=self.wait)

    def redo(self) -> int | None:
        return self.store.redo_speech(self.annotator, wait=self.wait)

    def _frame_order(self, label: str) -> int:
        ids = self.scheme.frame_ids
        return ids.index(label) if label in ids else len(ids)

"""Decisions: the current one per segment and annotator, the append-only history, the undo stack.

Every change of a decision is one history entry ('decide', 'undo', 'redo'; a merge adds
'merge'). Each annotator's own decisions in this project are also on the ``undo_stack``: the
entries not undone, the latest on top, and above them the undone ones, the next to redo lowest.
The mechanics are :mod:`annotator.store.decision_log`'s, shared with the decisions on whole
speeches (:mod:`annotator.store.speech_annotations`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlite_utils import Database

from annotator.store.base import StorePart, first, marks
from annotator.store.decision_log import SEGMENT_DECISIONS, DecisionLog
from annotator.store.records import Annotation, AnnotationState, annotation_from_row


def annotation_row(db: Database, segment_id: int, annotator: str) -> dict[str, Any] | None:
    """The ``annotations`` row of one annotator's current decision on a segment, or ``None``."""
    return first(db, "SELECT * FROM annotations WHERE segment_id = ? AND annotator = ?", [segment_id, annotator])


class Annotations(StorePart):
    @property
    def _log(self) -> DecisionLog:
        return DecisionLog(self.db, SEGMENT_DECISIONS)

    # ---------------------------------------------------------------- deciding
    def decide(self, segment_id: int, annotator: str, state: AnnotationState) -> str:
        """Record an annotator's decision for a segment; returns the history entry's uid."""
        uid = self.decide_with(segment_id, annotator, lambda _current: state)
        assert uid is not None
        return uid

    def decide_with(self, segment_id: int, annotator: str,
                    edit: Callable[[AnnotationState | None], AnnotationState | None],
                    wait: float | None = None) -> str | None:
        """Change a decision as a function of the current one, in one write transaction.

        ``edit`` gets the annotator's current state (``None``: no decision yet) and returns the
        new one, or ``None`` for "nothing to change". It runs after ``BEGIN IMMEDIATE``, so no
        other process or window can change the decision between the read and the write: a
        frame toggled in one window is never overwritten by another. Returns the history
        entry's uid, or ``None`` if nothing changed.
        """
        with self.write(wait):
            return self._log.decide_with(segment_id, annotator, edit)

    # ----------------------------------------------------------------- reading
    def annotation(self, segment_id: int, annotator: str) -> Annotation | None:
        row = annotation_row(self.db, segment_id, annotator)
        return annotation_from_row(row) if row else None

    def annotations_for(self, segment_id: int) -> list[Annotation]:
        return [annotation_from_row(r) for r in self.db.query(
            "SELECT * FROM annotations WHERE segment_id = ? ORDER BY annotator", [segment_id])]

    def statuses(self, segment_ids: Sequence[int], annotator: str) -> dict[int, str]:
        """Each segment's status for one annotator (for the list's icons)."""
        if not segment_ids:
            return {}
        return {r[0]: r[1] for r in self.db.execute(
            f"SELECT segment_id, status FROM annotations WHERE annotator = ? AND segment_id IN ({marks(segment_ids)})",
            [annotator, *segment_ids]).fetchall()}

    def decided_by_others(self, segment_ids: Sequence[int], annotator: str) -> set[int]:
        """Of these segments, those another annotator has decided (skipping is no decision)."""
        if not segment_ids:
            return set()
        return {r[0] for r in self.db.execute(
            f"SELECT DISTINCT segment_id FROM annotations WHERE annotator != ? AND status != 'skipped' "
            f"AND segment_id IN ({marks(segment_ids)})", [annotator, *segment_ids]).fetchall()}

    def iter_annotations(self, annotator: str | None = None) -> Iterator[Annotation]:
        sql, params = "SELECT * FROM annotations", []
        if annotator:
            sql += " WHERE annotator = ?"
            params.append(annotator)
        for r in list(self.db.query(sql + " ORDER BY segment_id, annotator", params)):
            yield annotation_from_row(r)

    def history(self, segment_id: int | None = None, annotator: str | None = None) -> list[dict[str, Any]]:
        return self._log.history(segment_id, annotator)

    # ------------------------------------------------------------ undo, redo
    def undo(self, annotator: str, wait: float | None = None) -> int | None:
        """Undo the annotator's latest decision that is not undone; returns its segment id.

        Undo follows the annotator's own chain of decisions made in this project: decisions a
        merge brought in are never on the stack, and a merge takes off it the annotator's entries
        on every segment where the merged file held a decision by the same name (the same as
        ours, or set against it), so undo never changes what a merge settled. Each step reads a
        few rows by index, whatever the history's size.
        """
        with self.write(wait):
            return self._log.step("undo", annotator)

    def redo(self, annotator: str, wait: float | None = None) -> int | None:
        """Redo the latest undone decision (if nothing was decided since); returns its segment id."""
        with self.write(wait):
            return self._log.step("redo", annotator)

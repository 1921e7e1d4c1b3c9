"""Decisions: the current one per segment and annotator, the append-only history, the undo stack.

Every change of a decision is one history entry ('decide', 'undo', 'redo'; a merge adds
'merge'). Each annotator's own decisions in this project are also on the ``undo_stack``: the
entries not undone, the latest on top, and above them the undone ones, the next to redo lowest.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlite_utils import Database

from annotator.errors import AnnotatorError
from annotator.store.base import StorePart, first, marks, utcnow
from annotator.store.records import Annotation, AnnotationState, annotation_from_row
from annotator.store.schema import ANNOTATION_STATUSES


def annotation_row(db: Database, segment_id: int, annotator: str) -> dict[str, Any] | None:
    """The ``annotations`` row of one annotator's current decision on a segment, or ``None``."""
    return first(db, "SELECT * FROM annotations WHERE segment_id = ? AND annotator = ?", [segment_id, annotator])


# How undo and redo step through the stack: which entries they take ("undone" flag), which of
# them first, what the segment must still show for the step to apply (else the entry is out of
# date and dropped), and which state of the entry it gets back.
_STACK_STEPS = {
    "undo": {"undone": 0, "order": "DESC", "expect": "state", "restore": "before"},
    "redo": {"undone": 1, "order": "ASC", "expect": "before", "restore": "state"},
}


class Annotations(StorePart):
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
            before = self._current_state(segment_id, annotator)
            state = edit(before)
            if state is None:
                return None
            _check_state(state)
            uid = uuid.uuid4().hex
            self._apply(segment_id, annotator, state)
            self._record(uid, segment_id, annotator, "decide", state, before)
            self._push_undo(annotator, uid)
        return uid

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

    def iter_annotations(self, annotator: str | None = None) -> Iterator[Annotation]:
        sql, params = "SELECT * FROM annotations", []
        if annotator:
            sql += " WHERE annotator = ?"
            params.append(annotator)
        for r in list(self.db.query(sql + " ORDER BY segment_id, annotator", params)):
            yield annotation_from_row(r)

    def history(self, segment_id: int | None = None, annotator: str | None = None) -> list[dict[str, Any]]:
        where, params = ["1=1"], []
        if segment_id is not None:
            where.append("segment_id = ?")
            params.append(segment_id)
        if annotator:
            where.append("annotator = ?")
            params.append(annotator)
        rows = list(self.db.query(f"SELECT * FROM annotation_history WHERE {' AND '.join(where)} ORDER BY id", params))
        for r in rows:
            r["state"] = AnnotationState.from_json(r["state"])
            r["before"] = AnnotationState.from_json(r["before"])
        return rows

    # ------------------------------------------------------------ undo, redo
    def undo(self, annotator: str, wait: float | None = None) -> int | None:
        """Undo the annotator's latest decision that is not undone; returns its segment id.

        Undo follows the annotator's own chain of decisions made in this project: decisions a
        merge brought in are never on the stack, and a decision of ours that a merge has since
        replaced on its segment is no longer in force, so it is passed over, never "undone"
        over the merged one. Each step reads a few rows by index, whatever the history's size.
        """
        return self._stack_step("undo", annotator, wait)

    def redo(self, annotator: str, wait: float | None = None) -> int | None:
        """Redo the latest undone decision (if nothing was decided since); returns its segment id."""
        return self._stack_step("redo", annotator, wait)

    def _stack_step(self, action: str, annotator: str, wait: float | None) -> int | None:
        """One undo or redo (see ``_STACK_STEPS``), in one write transaction.

        An entry whose segment no longer shows what the step expects — a merge replaced the
        decision since (undo), or the segment changed since the undo (redo) — is dropped from
        the stack, and the next one is tried."""
        step = _STACK_STEPS[action]
        with self.write(wait):
            while True:
                entry = first(
                    self.db,
                    "SELECT u.position, h.uid, h.segment_id, h.state, h.before FROM undo_stack u "
                    "JOIN annotation_history h ON h.uid = u.history_uid WHERE u.annotator = ? AND u.undone = ? "
                    f"ORDER BY u.position {step['order']} LIMIT 1", [annotator, step["undone"]])
                if entry is None:
                    return None
                segment_id = entry["segment_id"]
                current = self._current_state(segment_id, annotator)
                if current != AnnotationState.from_json(entry[step["expect"]]):
                    self._drop_from_stack(annotator, entry["position"])
                    continue
                restored = AnnotationState.from_json(entry[step["restore"]])
                self._apply(segment_id, annotator, restored)
                self._record(uuid.uuid4().hex, segment_id, annotator, action, restored, current, entry["uid"])
                self.db.execute("UPDATE undo_stack SET undone = ? WHERE annotator = ? AND position = ?",
                                [1 - step["undone"], annotator, entry["position"]])
                return int(segment_id)

    def _push_undo(self, annotator: str, uid: str) -> None:
        """A new decision: it goes on top of the undo stack, and what could be redone is gone."""
        self.db.execute("DELETE FROM undo_stack WHERE annotator = ? AND undone = 1", [annotator])
        self.db.execute(
            "INSERT INTO undo_stack (annotator, position, history_uid) VALUES "
            "(?, COALESCE((SELECT MAX(position) FROM undo_stack WHERE annotator = ?), 0) + 1, ?)",
            [annotator, annotator, uid])

    def _drop_from_stack(self, annotator: str, position: int) -> None:
        self.db.execute("DELETE FROM undo_stack WHERE annotator = ? AND position = ?", [annotator, position])

    # ---------------------------------------------------------------- writing
    def _current_state(self, segment_id: int, annotator: str) -> AnnotationState | None:
        ann = self.annotation(segment_id, annotator)
        return ann.state if ann else None

    def _apply(self, segment_id: int, annotator: str, state: AnnotationState | None) -> None:
        if state is None:
            self.db.execute("DELETE FROM annotations WHERE segment_id = ? AND annotator = ?", [segment_id, annotator])
            return
        now = utcnow()
        self.db.execute(
            "INSERT INTO annotations (segment_id, annotator, frames, spans, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (segment_id, annotator) DO UPDATE SET "
            "frames = excluded.frames, spans = excluded.spans, status = excluded.status, updated_at = excluded.updated_at",
            [segment_id, annotator, json.dumps(list(state.frames), ensure_ascii=False),
             json.dumps([s.to_dict() for s in state.spans]), state.status, now, now])

    def _record(self, uid: str, segment_id: int, annotator: str, action: str,
                state: AnnotationState | None, before: AnnotationState | None, ref_uid: str | None = None,
                created_at: str | None = None) -> None:
        """Append one history entry."""
        self.db.execute(
            "INSERT INTO annotation_history (uid, segment_id, annotator, action, ref_uid, state, before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [uid, segment_id, annotator, action, ref_uid, state.to_json() if state else None,
             before.to_json() if before else None, created_at or utcnow()])


def _check_state(state: AnnotationState) -> None:
    if state.status not in ANNOTATION_STATUSES:
        raise AnnotatorError(f"unknown annotation status {state.status!r}; use one of {', '.join(ANNOTATION_STATUSES)}")
    for span in state.spans:
        if not (0 <= span.start < span.end):
            raise AnnotatorError(f"invalid span {span.start}-{span.end}")

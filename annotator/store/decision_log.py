"""How a decision is kept: the current one per item and annotator, the append-only history, the
undo stack. One implementation for both kinds of decision the project keeps — on a segment
(``annotations``) and on a whole speech (``speech_annotations``) — over their own tables.

Every change of a decision is one history entry ('decide', 'undo', 'redo'; a merge adds
'merge'). Each annotator's own decisions in this project are also on the stack: the entries not
undone, the latest on top, and above them the undone ones, the next to redo lowest.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from annotator.errors import AnnotatorError
from annotator.store.base import first, scalar, utcnow
from annotator.store.records import AnnotationState, state_from_row
from annotator.store.schema import ANNOTATION_STATUSES


@dataclass(frozen=True)
class DecisionTables:
    """The tables of one kind of decision. ``item``: the column naming what is decided on;
    ``spans``: whether the decisions carry spans (a speech's do not)."""

    decisions: str
    item: str
    history: str
    stack: str
    spans: bool = True
    conflicts: str = ""  # where a merge keeps the conflicts it met
    items: str = ""  # the table of what is decided on


SEGMENT_DECISIONS = DecisionTables("annotations", "segment_id", "annotation_history", "undo_stack",
                                   conflicts="merge_conflicts", items="segments")
SPEECH_DECISIONS = DecisionTables("speech_annotations", "speech_id", "speech_annotation_history",
                                  "speech_undo_stack", spans=False, conflicts="speech_merge_conflicts",
                                  items="speeches")

HISTORY_ACTIONS = ("decide", "undo", "redo", "merge")


def state_problem(state: AnnotationState, spans: bool, text_length: int | None = None) -> str | None:
    """What is wrong with a decision, or ``None``: the one set of checks every decision passes,
    made in the screen or brought in by a merge. ``spans``: whether this kind of decision has
    spans; ``text_length``: the length of the segment's text, which they must lie within."""
    if state.status not in ANNOTATION_STATUSES:
        return f"unknown annotation status {state.status!r}; use one of {', '.join(ANNOTATION_STATUSES)}"
    for frame in state.frames:
        if not isinstance(frame, str) or not frame.strip():
            return f"a frame name is empty or not text: {frame!r}"
    if len(set(state.frames)) != len(state.frames):
        return "a frame is given twice"
    if state.spans and not spans:
        return "a decision on a whole speech has frames, not spans"
    for span in state.spans:
        if not (0 <= span.start < span.end) or (text_length is not None and span.end > text_length):
            within = f" (the segment has {text_length} characters)" if text_length is not None else ""
            return f"invalid span {span.start}-{span.end}{within}"
        if not isinstance(span.label, str) or not span.label.strip():
            return f"span {span.start}-{span.end} has no label"
    return None

# How undo and redo step through the stack: which entries they take ("undone" flag), which of
# them first, what the item must still show for the step to apply (else the entry is out of
# date and dropped), and which state of the entry it gets back.
_STACK_STEPS = {
    "undo": {"undone": 0, "order": "DESC", "expect": "state", "restore": "before"},
    "redo": {"undone": 1, "order": "ASC", "expect": "before", "restore": "state"},
}


class DecisionLog:
    """The decisions of one kind on one connection. Callers hold the write transaction."""

    def __init__(self, db: Database, tables: DecisionTables) -> None:
        self.db, self.t = db, tables

    def row(self, item: int, annotator: str) -> dict[str, Any] | None:
        """The current decision's row, or ``None``."""
        return first(self.db, f"SELECT * FROM {self.t.decisions} WHERE {self.t.item} = ? AND annotator = ?",
                     [item, annotator])

    def state(self, item: int, annotator: str) -> AnnotationState | None:
        row = self.row(item, annotator)
        return state_from_row(row) if row else None

    def decide_with(self, item: int, annotator: str,
                    edit: Callable[[AnnotationState | None], AnnotationState | None]) -> str | None:
        """Change a decision as a function of the current one (inside the caller's write
        transaction); returns the history entry's uid, or ``None`` if ``edit`` changed nothing."""
        before = self.state(item, annotator)
        state = edit(before)
        if state is None:
            return None
        self.check(item, state)
        uid = uuid.uuid4().hex
        self.apply(item, annotator, state)
        self.record(uid, item, annotator, "decide", state, before)
        self.push_undo(annotator, uid)
        return uid

    def step(self, action: str, annotator: str) -> int | None:
        """One undo or redo (see ``_STACK_STEPS``); returns the item it changed.

        An entry whose item no longer shows what the step expects — a merge replaced the
        decision since (undo), or the item changed since the undo (redo) — is dropped from the
        stack, and the next one is tried."""
        step, t = _STACK_STEPS[action], self.t
        while True:
            entry = first(
                self.db,
                f"SELECT u.position, h.uid, h.{t.item} AS item, h.state, h.before FROM {t.stack} u "
                f"JOIN {t.history} h ON h.uid = u.history_uid WHERE u.annotator = ? AND u.undone = ? "
                f"ORDER BY u.position {step['order']} LIMIT 1", [annotator, step["undone"]])
            if entry is None:
                return None
            item = entry["item"]
            current = self.state(item, annotator)
            if current != AnnotationState.from_json(entry[step["expect"]]):
                self.db.execute(f"DELETE FROM {t.stack} WHERE annotator = ? AND position = ?",
                                [annotator, entry["position"]])
                continue
            restored = AnnotationState.from_json(entry[step["restore"]])
            self.apply(item, annotator, restored)
            self.record(uuid.uuid4().hex, item, annotator, action, restored, current, entry["uid"])
            self.db.execute(f"UPDATE {t.stack} SET undone = ? WHERE annotator = ? AND position = ?",
                            [1 - step["undone"], annotator, entry["position"]])
            return int(item)

    def push_undo(self, annotator: str, uid: str) -> None:
        """A new decision: it goes on top of the undo stack, and what could be redone is gone."""
        stack = self.t.stack
        self.db.execute(f"DELETE FROM {stack} WHERE annotator = ? AND undone = 1", [annotator])
        self.db.execute(
            f"INSERT INTO {stack} (annotator, position, history_uid) VALUES "
            f"(?, COALESCE((SELECT MAX(position) FROM {stack} WHERE annotator = ?), 0) + 1, ?)",
            [annotator, annotator, uid])

    def apply(self, item: int, annotator: str, state: AnnotationState | None) -> None:
        t = self.t
        if state is None:
            self.db.execute(f"DELETE FROM {t.decisions} WHERE {t.item} = ? AND annotator = ?", [item, annotator])
            return
        now = utcnow()
        columns = {"frames": json.dumps(list(state.frames), ensure_ascii=False)}
        if t.spans:
            columns["spans"] = json.dumps([s.to_dict() for s in state.spans])
        names = ", ".join(columns)
        self.db.execute(
            f"INSERT INTO {t.decisions} ({t.item}, annotator, {names}, status, created_at, updated_at) "
            f"VALUES (?, ?, {', '.join('?' * len(columns))}, ?, ?, ?) ON CONFLICT ({t.item}, annotator) DO UPDATE SET "
            + "".join(f"{c} = excluded.{c}, " for c in columns)
            + "status = excluded.status, updated_at = excluded.updated_at",
            [item, annotator, *columns.values(), state.status, now, now])

    def record(self, uid: str, item: int, annotator: str, action: str, state: AnnotationState | None,
               before: AnnotationState | None, ref_uid: str | None = None, created_at: str | None = None) -> None:
        """Append one history entry."""
        self.db.execute(
            f"INSERT INTO {self.t.history} (uid, {self.t.item}, annotator, action, ref_uid, state, before, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [uid, item, annotator, action, ref_uid, state.to_json() if state else None,
             before.to_json() if before else None, created_at or utcnow()])

    def history(self, item: int | None = None, annotator: str | None = None) -> list[dict[str, Any]]:
        where, params = ["1=1"], []
        if item is not None:
            where.append(f"{self.t.item} = ?")
            params.append(item)
        if annotator:
            where.append("annotator = ?")
            params.append(annotator)
        rows = list(self.db.query(f"SELECT * FROM {self.t.history} WHERE {' AND '.join(where)} ORDER BY id", params))
        for r in rows:
            r["state"] = AnnotationState.from_json(r["state"])
            r["before"] = AnnotationState.from_json(r["before"])
        return rows

    def check(self, item: int, state: AnnotationState) -> None:
        length = None
        if state.spans and self.t.spans:
            length = scalar(self.db, f"SELECT length(text) FROM {self.t.items} WHERE id = ?", [item])
        problem = state_problem(state, self.t.spans, length)
        if problem:
            raise AnnotatorError(problem)

    def release(self, pairs: Iterable[tuple[int, str]]) -> int:
        """Take each ``(item, annotator)``'s entries off the undo stack (undone ones too): a
        merge found the other project holding a decision there, so it is no longer this
        project's own to undo or redo. One statement for all of them (a merge of 100,000
        decisions releases them in a second, where one statement each scanned the annotator's
        whole stack every time). Returns how many entries were taken off."""
        t = self.t
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS released_items "
                        "(item INTEGER NOT NULL, annotator TEXT NOT NULL, PRIMARY KEY (item, annotator))")
        self.db.execute("DELETE FROM temp.released_items")
        self.db.conn.executemany("INSERT OR IGNORE INTO temp.released_items (item, annotator) VALUES (?, ?)", list(pairs))
        cur = self.db.execute(
            f"DELETE FROM {t.stack} WHERE history_uid IN (SELECT h.uid FROM temp.released_items r "
            f"JOIN {t.history} h ON h.{t.item} = r.item AND h.annotator = r.annotator)")
        self.db.execute("DELETE FROM temp.released_items")
        return cur.rowcount

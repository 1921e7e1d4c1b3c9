"""Span mode: marking a label's spans in the segment's original text with the keyboard.

:class:`SpanEditor` is the widget that shows the original text and holds span mode's state:
whether it is on (``active``), for which label, and a cursor and an anchor over the text's
word units (words; single characters in Chinese and Japanese). The annotation screen binds the
keys (``span.*`` in ``annotator.keymap``) and calls its methods; ``active`` is a reactive that
refreshes the bindings, so the footer and the screen's ``check_action`` follow it by themselves.
"""

from __future__ import annotations

from textual.reactive import reactive

from annotator.services.session import Session
from annotator.text import word_units
from annotator.ui.widgets import SegmentText, say


class SpanEditor(SegmentText):
    """The segment's original text and, in span mode, the selection between anchor and cursor
    (drawn in reverse), which ``commit`` adds as a span of the label (or resizes the span it
    overlaps to) and ``delete`` removes the span under the cursor from."""

    active: reactive[bool] = reactive(False, bindings=True)
    label: reactive[str] = reactive("")
    cursor: reactive[int] = reactive(0)
    anchor: reactive[int] = reactive(0)

    def __init__(self, session: Session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.segment_id: int | None = None
        self.units: list[tuple[int, int]] = []  # (start, end) code points of each unit

    # ------------------------------------------------------------------ state
    def enter(self, segment_id: int, label: str) -> bool:
        """Span mode for ``label`` on this segment, the cursor on its first span (or its first
        unit); ``False`` if the segment has nothing to mark."""
        view = self.session.view(segment_id)
        units = word_units(view.segment.text)
        if not units:
            return False
        self.segment_id, self.units = segment_id, units
        first = view.spans[0].start if view.spans else 0
        self.cursor = next((i for i, (_, end) in enumerate(units) if end > first), 0)
        self.anchor = self.cursor
        self.label = label
        self.active = True
        return True

    def leave(self) -> None:
        self.active = False

    def move(self, step: int, extend: bool = False) -> None:
        """Move the cursor ``step`` units; without ``extend`` the anchor follows it."""
        self.cursor = max(0, min(self.cursor + step, len(self.units) - 1))
        if not extend:
            self.anchor = self.cursor

    def selected(self) -> tuple[int, int] | None:
        """The selection's code points ``(start, end)`` in span mode, else ``None``."""
        if not self.active or not self.units:
            return None
        lo, hi = sorted((self.anchor, self.cursor))
        return self.units[lo][0], self.units[hi][1]

    # ----------------------------------------------------------------- editing
    def commit(self) -> str | None:
        """Save the selection as a span of the label; the session's outcome (``None``: not in
        span mode)."""
        selection = self.selected()
        if selection is None or self.segment_id is None:
            return None
        outcome = self.session.set_span(self.segment_id, *selection, self.label)
        self.anchor = self.cursor
        return outcome

    def delete(self) -> str | None:
        """Remove the span under the cursor; ``None`` (and the annotator is told) if none is there."""
        if not self.active or not self.units or self.segment_id is None:
            return None
        outcome = self.session.remove_span_at(self.segment_id, self.units[self.cursor][0])
        if outcome is None:
            say(self.app, "no span under the cursor", timeout=2)
        return outcome

    # ----------------------------------------------------------------- drawing
    def show(self, text: str, spans, selection: tuple[int, int] | None = None) -> None:
        super().show(text, spans, selection or self.selected())

    def _select(self) -> None:
        self.selection = self.selected()

    def watch_active(self) -> None:
        self._select()

    def watch_cursor(self) -> None:
        self._select()

    def watch_anchor(self) -> None:
        self._select()

"""Span mode: marking a label's spans in the segment's original text, with the keyboard or
the mouse.

:class:`SpanEditor` is the widget that shows the original text and holds span mode's state:
whether it is on (``active``), for which label, and a cursor and an anchor over the text's
word units (words; single characters in Chinese and Japanese). The annotation screen binds the
keys (``span.*`` in ``annotator.keymap``) and calls its methods; a drag over the text with the
mouse adds the span it covers, snapped to the same units (:meth:`SpanEditor.span_at`).
``active`` is a reactive that refreshes the bindings, so the footer and the screen's
``check_action`` follow it by themselves.
"""

from __future__ import annotations

from textual.reactive import reactive
from textual.selection import Selection

from annotator.services.session import Session
from annotator.text import trimmed_phrase, word_units
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

    # ------------------------------------------------------------------- mouse
    def span_at(self, selection: Selection) -> tuple[int, int] | None:
        """The span a mouse selection over the text marks: the words it touches (single
        characters in Chinese and Japanese, as span mode's units), without the punctuation at
        either edge (a slogan is marked without its quotation marks); ``None`` if it touches no
        word."""
        covered = self.offsets_at(selection)
        if covered is None:
            return None
        lo, hi = covered
        touched = [(start, end) for start, end in word_units(self.text) if start < hi and end > lo]
        if not touched:
            return None
        start, end = touched[0][0], touched[-1][1]
        trimmed = trimmed_phrase(self.text, start, end)
        return trimmed if trimmed[0] < trimmed[1] else (start, end)

    def add(self, segment_id: int, start: int, end: int) -> str:
        """Save ``start..end`` as a span (of span mode's label, else the scheme's first span
        label), or resize the span it overlaps; in span mode the cursor then selects it."""
        outcome = self.session.set_span(segment_id, start, end, self.label if self.active else None)
        if self.active and self.segment_id == segment_id:
            inside = [i for i, (a, b) in enumerate(self.units) if a < end and b > start]
            if inside:
                self.anchor, self.cursor = inside[0], inside[-1]
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

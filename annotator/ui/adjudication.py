"""Adjudication mode: the segments annotators disagree on, their decisions side by side, and
the adjudicator taking one of them.

:class:`Adjudication` is the panel that shows the votes on the segment in view and holds the
mode: ``active`` is a reactive that refreshes the bindings (``c`` only acts in the mode) and
switches the session (the list becomes the disagreements, decisions are stored under
``adjudicator:<user>``). The annotation screen binds ``d`` and ``c`` and redraws its list when
``active`` changes.
"""

from __future__ import annotations

from rich.style import Style
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from annotator.services.session import Session
from annotator.ui.screens import PickScreen
from annotator.ui.widgets import say, votes_table


class Adjudication(Static):
    """The votes table of the segment in view (shown in adjudication mode only)."""

    active: reactive[bool] = reactive(False, bindings=True)

    class Adopted(Message):
        """The adjudicator took one annotator's decision on ``segment_id``."""

        def __init__(self, segment_id: int, outcome: str) -> None:
            super().__init__()
            self.segment_id = segment_id
            self.outcome = outcome

    def __init__(self, session: Session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.set_reactive(Adjudication.active, session.adjudicate)

    def watch_active(self, active: bool) -> None:
        if active != self.session.adjudicate:
            self.session.set_adjudicate(active)

    def toggle(self) -> None:
        self.active = not self.active

    def show(self, segment_id: int, accent: Style) -> None:
        """The annotators' decisions on ``segment_id``; labels not everyone chose in ``accent``."""
        self.display = self.active
        if self.active:
            self.update(votes_table(self.session.votes(segment_id), self.session.scheme, accent))

    def clear(self) -> None:
        self.update("")

    def choose(self, segment_id: int) -> None:
        """Ask which annotator's decision to take (1–9, or the arrows and enter), and take it."""
        votes = self.session.votes(segment_id)
        if not votes:
            say(self.app, "no annotator has decided on this segment", severity="warning", timeout=3)
            return
        names = self.session.scheme.display_names

        def take(annotator: str | None) -> None:
            if annotator is None:
                return
            outcome = self.session.adopt(segment_id, annotator)
            say(self.app, f"took {annotator}'s decision", timeout=2)
            self.post_message(self.Adopted(segment_id, outcome))

        self.app.push_screen(PickScreen(votes, names), take)

"""Small modal screens: a one-line prompt (search, jump), the filter form, and the adjudicator's
picker of one annotator's decision."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Switch
from textual.widgets.option_list import Option

from annotator.services.session import STATUS_ICONS, Vote
from annotator.text import visible_text
from annotator.store import SegmentFilter

MODAL_CSS = """
PromptScreen, FilterScreen, PickScreen { align: center middle; }
PromptScreen > Vertical, FilterScreen > Vertical, PickScreen > Vertical {
    width: 64; max-width: 100%; height: auto; padding: 1 2;
    border: round $accent; background: $surface;
}
.modal-title { text-style: bold; margin-bottom: 1; }
.modal-row { height: auto; margin-bottom: 1; }
.modal-row Label { width: 18; }
.modal-row Select, .modal-row Input { width: 1fr; }
.modal-buttons { height: auto; }
.modal-buttons Button { margin-right: 1; }
PickScreen OptionList { height: auto; max-height: 14; }
"""


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; returns it, or ``None`` on escape."""

    DEFAULT_CSS = MODAL_CSS
    SCOPED_CSS = False
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "", input_type: str = "text") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.input_type = input_type

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="modal-title")
            yield Input(value=self.value, placeholder=self.placeholder, type=self.input_type, compact=True, id="prompt")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class FilterChoice:
    flt: SegmentFilter
    low_confidence: bool


class FilterScreen(ModalScreen[FilterChoice | None]):
    """Language, speech, status, label, and low-confidence-first ordering."""

    DEFAULT_CSS = MODAL_CSS
    SCOPED_CSS = False
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="filter.cancel")]

    def __init__(self, current: FilterChoice, languages: list[str], labels: list[tuple[str, str]],
                 queue_owner: str = "", queue_size: int = 0) -> None:
        super().__init__()
        self.current = current
        self.languages = languages
        self.labels = labels
        self.queue_owner = queue_owner  # whose assignment queue the switch restricts to ("": none)
        self.queue_size = queue_size

    def compose(self) -> ComposeResult:
        flt = self.current.flt
        statuses = [(f"{STATUS_ICONS.get(s, ' ')} {s}", s) for s in
                    ("untouched", "accepted", "corrected", "rejected", "skipped")]
        with Vertical():
            yield Label("Filters", classes="modal-title")
            with Horizontal(classes="modal-row"):
                yield Label("Language")
                yield Select([(Text(visible_text(x)), x) for x in self.languages], value=flt.language or Select.NULL,
                             prompt="any", compact=True, id="language")
            with Horizontal(classes="modal-row"):
                yield Label("Speech id")
                yield Input(value="" if flt.speech_id is None else str(flt.speech_id), placeholder="any",
                            type="integer", compact=True, id="speech")
            with Horizontal(classes="modal-row"):
                yield Label("Status")
                yield Select(statuses, value=flt.status or Select.NULL, prompt="any", compact=True, id="status")
            with Horizontal(classes="modal-row"):
                yield Label("Frame")
                yield Select([(Text(visible_text(name)), value) for name, value in self.labels],
                             value=flt.label or Select.NULL, prompt="any", compact=True, id="label")
            with Horizontal(classes="modal-row"):
                yield Label("Least sure first")
                yield Switch(value=self.current.low_confidence, id="low")
            if self.queue_owner:
                with Horizontal(classes="modal-row"):
                    yield Label(f"My queue ({self.queue_size})")
                    yield Switch(value=bool(flt.assigned_to), id="queue")
            with Horizontal(classes="modal-buttons"):
                yield Button("Apply", variant="primary", compact=True, id="apply")
                yield Button("Clear", compact=True, id="clear")

    def _value(self, selector: str) -> str:
        value = self.query_one(selector, Select).value
        return "" if value in (Select.NULL, None) else str(value)

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted)
    def apply(self) -> None:
        speech = self.query_one("#speech", Input).value.strip()
        queue = self.queue_owner and self.query_one("#queue", Switch).value
        flt = SegmentFilter(
            language=self._value("#language"), speech_id=int(speech) if speech else None,
            status=self._value("#status"), label=self._value("#label"), query=self.current.flt.query,
            assigned_to=self.queue_owner if queue else "")
        self.dismiss(FilterChoice(flt, self.query_one("#low", Switch).value))

    @on(Button.Pressed, "#clear")
    def clear(self) -> None:
        self.dismiss(FilterChoice(SegmentFilter(), False))

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[str | None]):
    """The adjudicator takes one annotator's decision: a digit, or the arrows and enter."""

    DEFAULT_CSS = MODAL_CSS
    SCOPED_CSS = False
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pick.cancel"),
                *(Binding(str(i), f"pick({i})", f"Take #{i}", show=False, id=f"pick.{i}") for i in range(1, 10))]

    def __init__(self, votes: list[Vote], frame_names: dict[str, str]) -> None:
        super().__init__()
        self.votes = votes
        self.frame_names = frame_names

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Take whose decision? (1–9, or ↑↓ enter; escape cancels)", classes="modal-title")
            yield OptionList(*(Option(self._prompt(i, v), id=f"vote-{i}") for i, v in enumerate(self.votes, 1)),
                             compact=True, markup=False, id="pick-list")

    def _prompt(self, number: int, vote: Vote) -> Text:
        text = Text(f"{number if number <= 9 else ' '}  ", "bold")
        text.append(f"{STATUS_ICONS.get(vote.status, '?')} {visible_text(vote.annotator)}"
                    f"{' (prior)' if vote.prior else ''}: ")
        frames = visible_text(", ".join(self.frame_names.get(f, f) for f in vote.frames))
        text.append(frames or ("rejected" if vote.status == "rejected" else "no frames"))
        if vote.spans:
            text.append(f" · {len(vote.spans)} span{'s' if len(vote.spans) > 1 else ''}", "dim")
        return text

    def action_pick(self, number: int) -> None:
        if 1 <= number <= len(self.votes):
            self.dismiss(self.votes[number - 1].annotator)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.votes[event.option_index].annotator)

    def action_cancel(self) -> None:
        self.dismiss(None)

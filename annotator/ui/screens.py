"""Small modal screens: a one-line prompt (search, jump) and the filter form."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Switch

from annotator.session import STATUS_ICONS
from annotator.store import SegmentFilter

MODAL_CSS = """
PromptScreen, FilterScreen { align: center middle; }
PromptScreen > Vertical, FilterScreen > Vertical {
    width: 64; max-width: 100%; height: auto; padding: 1 2;
    border: round $accent; background: $surface;
}
.modal-title { text-style: bold; margin-bottom: 1; }
.modal-row { height: auto; margin-bottom: 1; }
.modal-row Label { width: 18; }
.modal-row Select, .modal-row Input { width: 1fr; }
.modal-buttons { height: auto; }
.modal-buttons Button { margin-right: 1; }
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

    def __init__(self, current: FilterChoice, languages: list[str], labels: list[tuple[str, str]]) -> None:
        super().__init__()
        self.current = current
        self.languages = languages
        self.labels = labels

    def compose(self) -> ComposeResult:
        flt = self.current.flt
        statuses = [(f"{STATUS_ICONS.get(s, ' ')} {s}", s) for s in
                    ("untouched", "accepted", "corrected", "rejected", "skipped")]
        with Vertical():
            yield Label("Filters", classes="modal-title")
            with Horizontal(classes="modal-row"):
                yield Label("Language")
                yield Select([(x, x) for x in self.languages], value=flt.language or Select.NULL,
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
                yield Select(self.labels, value=flt.label or Select.NULL, prompt="any", compact=True, id="label")
            with Horizontal(classes="modal-row"):
                yield Label("Least sure first")
                yield Switch(value=self.current.low_confidence, id="low")
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
        flt = SegmentFilter(
            language=self._value("#language"), speech_id=int(speech) if speech else None,
            status=self._value("#status"), label=self._value("#label"), query=self.current.flt.query)
        self.dismiss(FilterChoice(flt, self.query_one("#low", Switch).value))

    @on(Button.Pressed, "#clear")
    def clear(self) -> None:
        self.dismiss(FilterChoice(SegmentFilter(), False))

    def action_cancel(self) -> None:
        self.dismiss(None)

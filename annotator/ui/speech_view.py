"""The speech view (``v``): the whole speech in which the segment in view stands, the frames
suggested for it as a whole with their scores and thresholds, and the annotator's own frames
for it as a checklist, toggled with the scheme's frame keys and saved at once (``a`` accepts
them as they stand, ``x`` says no frame, backspace/``u`` undoes the latest speech decision, esc
returns). Its keys come from the one key table (``keymap.screen_keys(speech_view=True)`` and the
frame keys), so a keymap moves them here too.

The speech's text is data: each paragraph is drawn by :class:`~annotator.ui.widgets.SegmentText`
(literal text, control characters made visible, right-to-left lines reordered for display only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from annotator.errors import AnnotatorError, CannotWriteNow
from annotator.keymap import label_keys, screen_keys
from annotator.schemes import Scheme
from annotator.services.session import STATUS_ICONS
from annotator.services.speech_session import SpeechDecisions, SpeechView
from annotator.text import display_line, visible_text
from annotator.thresholds import score_text
from annotator.ui.bindings import screen_bindings
from annotator.ui.widgets import FrameChecklist, SegmentText, say, truncate_cells


class SpeechScored(Message):
    """The worker stored the speech's scores (or met ``error``)."""

    def __init__(self, speech_id: int, error: str = "") -> None:
        super().__init__()
        self.speech_id = speech_id
        self.error = error


def speech_header(view: SpeechView) -> Text:
    sp = view.speech
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"{STATUS_ICONS.get(view.status, '?')} {view.status}", "bold")
    text.append(f"  ·  speech #{sp.id}  ·  {visible_text(sp.language) or '??'}  ·  {view.segments} segments  ·  ", "dim")
    title = " — ".join(x for x in (sp.title, sp.speaker, sp.date) if x)
    text.append(display_line(visible_text(title or f"speech {sp.id}")))
    return text


def speech_checklist(view: SpeechView, scheme: Scheme, accent: Style, keys: Mapping[str, str] | None = None,
                     width: int = 0) -> Text:
    """The speech's frames: key, box, name, and the model's score against its threshold.
    ``width``: the cells a row may take (0: any); the names' column narrows (long names cut
    with …) so that rows fit, as in the segment's checklist."""
    keys = keys or {}
    text = Text(end="")
    text.append("Frames of the whole speech\n", "bold")
    if view.version:
        text.append(f"scores of {visible_text(view.version)}; ◇ at or above the threshold\n", "dim")
    if not view.has_scores:
        text.append("no scores for this speech yet\n", "dim italic")
    name_width = max((cell_len(visible_text(lab.name)) for lab in scheme.frames), default=10)
    shown = {lab.id: visible_text(keys.get(f"frame.{lab.id}", lab.key)) or " " for lab in scheme.frames}
    key_width = max((cell_len(k) for k in shown.values()), default=1)
    if width:
        tail = max((len(f" {score_text(r.score)} / {score_text(r.threshold)} ◇") for r in view.frames
                    if r.score is not None and r.threshold is not None), default=0)
        name_width = max(min(name_width, width - key_width - 5 - tail), 8)  # "k [x] name"
    for row in view.frames:
        style = accent if row.checked else Style()
        text.append(f"{shown.get(row.label.id, ' '):<{key_width}} ", "dim")
        text.append("[x]" if row.checked else "[ ]", style)
        name = truncate_cells(visible_text(row.label.name), name_width, "…")
        text.append(" " + name + " " * (name_width - cell_len(name)), style)
        if row.score is not None:
            text.append(f" {score_text(row.score)}", "bold" if row.suggested else "dim")
            text.append(f" / {score_text(row.threshold)}", "dim")
            if row.suggested:
                text.append(" ◇", accent)
        text.append("\n")
    text.append("\na accept · x no frame · ⌫ undo · esc back", "dim")
    return text


class SpeechChecklist(FrameChecklist):
    """The speech's checklist (:func:`speech_checklist`), laid out as the segment's is."""

    DEFAULT_CSS = "SpeechChecklist { height: auto; }"
    draw = staticmethod(speech_checklist)


class SpeechScreen(Screen):
    """The speech view for one speech. Use ``SpeechScreen.for_scheme(scheme)``: the class whose
    bindings include the scheme's frame keys."""

    BINDINGS = screen_bindings(screen_keys(speech_view=True))
    DEFAULT_CSS = """
    SpeechScreen #speech-meta { height: 1; color: $text-muted; padding: 0 1; }
    SpeechScreen #speech-body { height: 1fr; }
    SpeechScreen #speech-text { width: 1fr; padding: 0 1; border-right: vkey $panel; }
    SpeechScreen #speech-text SegmentText { margin-bottom: 1; padding: 0; }
    SpeechScreen #speech-frames { width: 64; padding: 0 1; }
    """

    @classmethod
    def for_scheme(cls, scheme: Scheme) -> type[SpeechScreen]:
        frames = tuple(k for k in label_keys(scheme) if k.id.startswith("frame."))
        return type(cls.__name__, (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__,
                                           "BINDINGS": screen_bindings(frames)})

    def __init__(self, decisions: SpeechDecisions, speech_id: int, suggest: bool = True,
                 keys: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.decisions = decisions
        self.speech_id = speech_id
        self.suggest = suggest and decisions.store.path is not None
        self.keys = dict(keys or {})  # label keys a keymap moved, as shown

    def compose(self) -> ComposeResult:
        # one widget per paragraph: wrapped, then reordered for display line by line
        self.paragraphs = [p for p in self.decisions.store.speech(self.speech_id, with_text=True).text.split("\n")
                           if p.strip()]
        yield Static(id="speech-meta")
        with Horizontal(id="speech-body"):
            with VerticalScroll(id="speech-text"):
                for _ in self.paragraphs:
                    yield SegmentText()
            with VerticalScroll(id="speech-frames", can_focus=False):
                yield SpeechChecklist(id="speech-checklist")
        yield Footer()

    def on_mount(self) -> None:
        for widget, paragraph in zip(self.query(SegmentText), self.paragraphs):
            widget.show(paragraph, ())
        self.refresh_view()
        if self.suggest and self.decisions.missing_scores([self.speech_id]):
            self.score_speech(self.speech_id)

    def _accent(self) -> Style:
        """The style of what stands out (checked frames): the text widgets' highlight."""
        widgets = self.query(SegmentText)
        return widgets.first().get_component_rich_style("segment-text--span") if widgets else Style(bold=True)

    def refresh_view(self) -> None:
        view = self.decisions.view(self.speech_id)
        accent = self._accent()
        self.query_one("#speech-meta", Static).update(speech_header(view))
        self.query_one("#speech-checklist", SpeechChecklist).show(view, self.decisions.scheme, accent, self.keys)

    # ---------------------------------------------------------------- deciding
    def _save(self, step, *args) -> None:
        try:
            step(self.speech_id, *args)
        except CannotWriteNow as exc:  # busy, or the disk full: nothing saved, nothing lost
            say(self.app, f"not saved: {exc} (press the key again then)", severity="error", timeout=6)
        self.refresh_view()

    def action_toggle_frame(self, label: str) -> None:
        self._save(self.decisions.toggle_frame, label)

    def action_accept(self) -> None:
        self._save(self.decisions.accept)

    def action_reject(self) -> None:
        self._save(self.decisions.reject)

    def _history(self, step, verb: str) -> None:
        try:
            speech_id = step()
        except CannotWriteNow as exc:  # busy, or the disk full: nothing saved, nothing lost
            say(self.app, f"nothing {verb}: {exc}", severity="warning", timeout=5)
            return
        if speech_id is None:
            say(self.app, f"no speech decision to be {verb}", severity="warning", timeout=2)
        elif speech_id != self.speech_id:
            say(self.app, f"{verb} your decision on speech {speech_id}", timeout=3)
        self.refresh_view()

    def action_undo(self) -> None:
        self._history(self.decisions.undo, "undone")

    def action_redo(self) -> None:
        self._history(self.decisions.redo, "redone")

    def action_close(self) -> None:
        self.dismiss()

    # --------------------------------------------------------------- scoring
    @work(thread=True, group="speech", exclusive=True, exit_on_error=False)
    def score_speech(self, speech_id: int) -> None:
        from annotator.services.speech_suggest import suggest_speeches

        store = self.decisions.store.reopen()  # the worker's own connection
        try:
            if not get_current_worker().is_cancelled:
                suggest_speeches(store, [speech_id])
        except Exception as exc:  # noqa: BLE001 - reported, never a crash
            message = str(exc) if isinstance(exc, AnnotatorError) else f"{type(exc).__name__}: {exc}"
            self.post_message(SpeechScored(speech_id, message or type(exc).__name__))
            return
        finally:
            store.close()
        self.post_message(SpeechScored(speech_id))

    @on(SpeechScored)
    def scored(self, message: SpeechScored) -> None:
        if message.error:
            say(self.app, f"no speech suggestions: {message.error}", severity="error", timeout=6)
        if message.speech_id == self.speech_id:
            self.refresh_view()

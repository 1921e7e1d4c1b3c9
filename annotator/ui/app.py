"""The annotation app: a segment list, the current segment in full, keyboard first.

Every key is a ``Binding`` with an id on the screen that owns its action (the scheme's label
keys too: the screen class for a scheme declares them, see ``AnnotateScreen.for_scheme``), so
the footer, the command palette (ctrl+p) and the user's keymap (``App.set_keymap``) see them
all. Which keys act is decided in one place, ``AnnotateScreen.check_action``, from reactives
that refresh the bindings when they change: the segment in view, span mode
(``annotator.ui.spans.SpanEditor``) and adjudication mode
(``annotator.ui.adjudication.Adjudication``). Decisions go through
``annotator.services.session`` and are committed before the screen shows them.

The speech view (``v``, ``annotator.ui.speech_view``) shows the whole speech of the segment in
view with its own frames; the glossary view (``G``, ``annotator.ui.glossary_view``) lists the
glossary and adds the span being marked to it. Adjudication mode (``d``, or ``annotator
annotate --adjudicate``) lists the segments annotators disagree on, shows their decisions side
by side, and stores the adjudicator's choice under ``adjudicator:<user>``. Every ``retrain_every`` decisions (and on ``ctrl+t``) the quick frames
and slogan models retrain in a worker thread, and the suggestions in view and ahead are recomputed with
the new version.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from annotator.errors import AnnotatorError, CannotWriteNow, DiskFull
from annotator.model_kinds import FRAMES, SPANS, SUGGESTING_KINDS
from annotator.schemes import Scheme, get_scheme
from annotator.keymap import ACTIONS_IN, label_keys, screen_keys
from annotator.services.first_run import needs_setup, setup_models, setup_plan
from annotator.services.session import PENDING, Session, compute_suggestions, engine_notes, retrain
from annotator.text import markup_literal, trimmed_phrase, visible_text
from annotator.store import Store
from annotator.ui.adjudication import Adjudication
from annotator.ui.bindings import screen_bindings, shown_label_keys, user_keymap
from annotator.ui.glossary_view import Candidate, GlossaryScreen
from annotator.ui.screens import FilterChoice, FilterScreen, PromptScreen
from annotator.ui.spans import SpanEditor
from annotator.ui.speech_view import SpeechScreen
from annotator.ui.widgets import (
    ContextText,
    FrameChecklist,
    MetaLine,
    SegmentList,
    TopBar,
    glossary_text,
    guidelines_text,
    header_text,
    others_text,
    say,
    translation_text,
)

PREFETCH = 16  # segments ahead of the cursor whose suggestions the worker computes
SUGGEST_STEP = 4  # segments a suggestion worker does between looks at whether it was cancelled
SPAN_ACTIONS = ACTIONS_IN["span"]
ADJUDICATE_ACTIONS = ACTIONS_IN["adjudicate"]
ALWAYS = ACTIONS_IN["always"]
# Actions on the segment in view: shown but disabled while there is none.
ON_SEGMENT = {"accept", "reject", "skip", "toggle_frame", "span_mode", "choose", "more_like_this", "speech_view"}
SIMILAR_K = 50  # segments "more like this one" lists
QUICK_KINDS = f"{FRAMES},{SPANS}"  # what ctrl+t and background retraining train: the quick models (seconds)


class SuggestionsReady(Message):
    """A suggestion worker stored suggestions for these segments."""

    def __init__(self, segment_ids: list[int], run: int) -> None:
        super().__init__()
        self.segment_ids = segment_ids
        self.run = run


class SuggestionsStopped(Message):
    """A suggestion worker ended; ``undone``: the segments it did not get to (cancelled or failed)."""

    def __init__(self, undone: list[int], run: int, error: str = "") -> None:
        super().__init__()
        self.undone = undone
        self.run = run
        self.error = error


class TrainingDone(Message):
    """The training worker finished: one headline per trained kind, or the error it met."""

    def __init__(self, headlines: list[str], error: str = "", background: bool = False) -> None:
        super().__init__()
        self.headlines = headlines
        self.error = error
        self.background = background  # started by the decision count, not by a key


class SetupDone(Message):
    """The default models are set up (``lines``: what the setup said), or ``error``."""

    def __init__(self, lines: list[str], error: str = "") -> None:
        super().__init__()
        self.lines = lines
        self.error = error


class SimilarReady(Message):
    """The similarity worker ranked the segments like ``segment_id`` (or met ``error``)."""

    def __init__(self, segment_id: int, ranked: list[tuple[int, float]], error: str = "") -> None:
        super().__init__()
        self.segment_id = segment_id
        self.ranked = ranked
        self.error = error


class AnnotateScreen(Screen):
    """The annotation screen for one session. Use ``AnnotateScreen.for_scheme(scheme)``: the
    class whose bindings include the scheme's label keys."""

    BINDINGS = screen_bindings(screen_keys())

    current_id: reactive[int | None] = reactive(None, bindings=True, repaint=False, init=False)
    """The segment in view (``None``: the list is empty); changing it leaves span mode."""
    guide_open: reactive[bool] = reactive(False, bindings=True, init=False)
    """The guidelines panel (``?``) is shown: escape closes it."""

    @classmethod
    def for_scheme(cls, scheme: Scheme) -> type[AnnotateScreen]:
        """This screen with one more binding per label key of ``scheme`` (a frame's toggles it,
        a span label's starts span mode), each with its id (``frame.<id>``, ``spans.<id>``)."""
        return type(cls.__name__, (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__,
                                           "BINDINGS": screen_bindings(label_keys(scheme))})

    def __init__(self, session: Session, suggest: bool = True, train_base: str | None = None,
                 keymap: dict[str, str] | None = None, retrain_every: int = 0, setup: bool = False) -> None:
        super().__init__()
        self.session = session
        self.setup = setup  # set up the default models in a worker where none is active
        self.setting_up = False  # … which is happening now: suggestions wait for it
        self.retrain_every = max(retrain_every, 0)  # background retraining after this many decisions (0: off)
        self.trained_at = 0  # session.decisions_made when training last started
        self.moved_label_keys = shown_label_keys(keymap or {})  # label keys a keymap moved, as shown
        self.suggest = suggest and session.store.path is not None
        self.train_base = train_base  # encoder for "retrain now" (None: the default encoder)
        self.training = False
        self.suggest_run = 0  # the latest suggestion run started
        self.in_flight: dict[int, int] = {}  # segment -> the run that is computing it
        self.suggest_lock = threading.Lock()  # one suggestion run computes at a time
        self.suggest_error = ""  # the last failure told to the annotator
        self.speech_screen = SpeechScreen.for_scheme(session.scheme)  # the speech view's class, with the frame keys
        self.spans = SpanEditor(session, id="original")
        self.adjudication = Adjudication(session, id="votes")

    @property
    def span_mode(self) -> bool:
        return self.spans.active

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield TopBar(header_text(self.session), id="who")
            yield ProgressBar(total=max(self.session.progress.total, 1), show_eta=False, id="progress")
            yield TopBar("", id="rate")
            yield TopBar("", id="busy")
            yield TopBar("", id="worker")
        with Horizontal(id="main"):
            yield SegmentList(self.session, id="list")
            with VerticalScroll(id="detail", can_focus=False):
                yield MetaLine(id="meta")
                yield ContextText(keep="end", id="before")  # the speech around the segment, dimmed
                yield self.spans
                yield ContextText(keep="start", id="after")
                yield self.adjudication
                yield Static(id="translation")
                yield Static(id="glossary")
                yield Static(id="others")
                yield FrameChecklist(id="frames")
            with VerticalScroll(id="guidelines", can_focus=False):
                yield Static(guidelines_text(self.session.scheme, self.moved_label_keys))
        yield Footer()

    def on_mount(self) -> None:
        self.retry_timer = self.set_interval(0.5, self.retry_pending, pause=True)
        # The modes redraw what depends on them; the bindings follow by themselves.
        self.watch(self.spans, "active", self.refresh_detail, init=False)
        self.watch(self.adjudication, "active", self.list_changed, init=False)
        self.update_progress()
        if self.suggest and self.setup and needs_setup(self.session.store):
            self.start_setup()
        if self.session.ids:
            self.show_index(0)
        else:
            self.show_empty()

    def say(self, message: str, **kwargs) -> None:
        """A notification whose text is data: never markup, control characters made visible."""
        say(self.app, message, **kwargs)

    # ---------------------------------------------------------------- showing
    @property
    def segment_list(self) -> SegmentList:
        return self.query_one(SegmentList)

    def show_index(self, index: int) -> None:
        ids = self.session.ids
        if not ids:
            self.show_empty()
            return
        index = max(0, min(index, len(ids) - 1))
        self.segment_list.move_to(index)
        self.show_segment(ids[index])

    def watch_current_id(self) -> None:
        self.spans.leave()
        self.query_one("#detail", VerticalScroll).scroll_home(animate=False)

    def show_segment(self, segment_id: int) -> None:
        self.current_id = segment_id
        index = self.session.index_of(segment_id)
        if index >= 0:
            self.segment_list.move_to(index)
        self.refresh_detail()
        self.request_suggestions(index)

    def refresh_detail(self) -> None:
        if self.current_id is None:
            return
        view = self.session.view(self.current_id)
        accent = self.spans.get_component_rich_style("segment-text--span")
        mode = (Text(f"  ·  SPANS: {visible_text(self.session.scheme.display_name(self.spans.label))}", "bold reverse")
                if self.spans.active else None)
        self.query_one(MetaLine).show(view, mode)
        self.query_one("#before", ContextText).show(view.before.text if view.before else "")
        self.spans.show(view.segment.text, view.spans)
        self.query_one("#after", ContextText).show(view.after.text if view.after else "")
        self.query_one("#translation", Static).update(translation_text(view))
        gloss = self.query_one("#glossary", Static)
        gloss.update(glossary_text(view))
        gloss.display = bool(view.glossary)
        others = self.query_one("#others", Static)
        others.update(others_text(view, self.session.scheme))
        others.display = bool(view.others) and not self.session.adjudicate  # adjudication shows them side by side
        self.query_one(FrameChecklist).show(view, self.session.scheme, accent, self.moved_label_keys)
        self.adjudication.show(self.current_id, accent)

    def show_empty(self) -> None:
        self.current_id = None
        self.segment_list.reset()
        empty = ("No disagreement left to settle: d leaves adjudication mode." if self.session.adjudicate
                 else "No segment matches: / searches, f changes the filters.")
        self.query_one(MetaLine).say(empty)
        self.spans.show("", ())
        for context in self.query(ContextText):
            context.show("")
        self.adjudication.clear()
        for name in ("#translation", "#glossary", "#others"):
            self.query_one(name, Static).update("")
        self.query_one(FrameChecklist).clear()

    def update_progress(self) -> None:
        p = self.session.progress
        self.query_one(ProgressBar).update(total=max(p.total, 1), progress=p.done)
        self.query_one("#rate", TopBar).update(f" {p.done}/{p.total} · {p.rate_per_hour():.0f}/h ")

    def after_decision(self, advance: bool) -> None:
        self.segment_list.refresh()
        self.update_progress()
        self.retrain_if_due()
        index = self.session.index_of(self.current_id) if self.current_id is not None else -1
        if advance and 0 <= index < len(self.session.ids) - 1:
            self.show_index(index + 1)
        else:
            self.refresh_detail()

    # -------------------------------------------------------------- decisions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The one place that says which keys act: span mode's keys only in span mode (and
        nothing else then but undo, redo, the guide and retraining), ``c`` only in adjudication
        mode, and the actions on a segment shown disabled while there is none. Each state this
        reads is a reactive that refreshes the bindings when it changes."""
        if action == "close_guidelines":
            return self.guide_open  # escape closes the guide first, then leaves span mode
        if action in SPAN_ACTIONS:
            return self.spans.active
        if action in ADJUDICATE_ACTIONS and not self.adjudication.active:
            return False
        if self.spans.active and action not in ALWAYS:
            return False  # span mode is a mode: only its own keys, undo and the guide
        if action in ON_SEGMENT and self.current_id is None:
            return None
        return True

    def _decided(self, outcome: str | None, advance: bool) -> None:
        """After a decision: move on (or redraw), and say so if it is waiting for the database."""
        if outcome == PENDING:
            self.show_busy()
        self.after_decision(advance=advance)

    def action_accept(self) -> None:
        if self.current_id is not None:
            self._decided(self.session.accept(self.current_id), advance=True)

    def action_reject(self) -> None:
        if self.current_id is not None:
            self._decided(self.session.reject(self.current_id), advance=True)

    def action_skip(self) -> None:
        if self.current_id is not None:
            self._decided(self.session.skip(self.current_id), advance=True)

    def action_toggle_frame(self, label: str) -> None:
        if self.current_id is not None:
            self._decided(self.session.toggle_frame(self.current_id, label), advance=False)

    def action_undo(self) -> None:
        self._history(self.session.undo, "undone")

    def action_redo(self) -> None:
        self._history(self.session.redo, "redone")

    def _history(self, step, verb: str) -> None:
        try:
            segment_id = step()
        except CannotWriteNow as exc:  # busy, or the disk full: nothing changed
            self.say(f"nothing {verb}: {exc}", severity="warning", timeout=5)
            return
        if segment_id is None:
            self.say(f"nothing to be {verb}", severity="warning", timeout=2)
            return
        self.show_busy()  # an undo may have dropped the last decision waiting for the database
        self.segment_list.refresh()
        self.update_progress()
        self.show_segment(segment_id)

    # ------------------------------------------------------------- busy database
    def show_busy(self) -> None:
        """The top bar says how many decisions wait for the database and why: a busy database
        (and who holds its write lock), or a full disk (and that nothing saved is lost)."""
        bar = self.query_one("#busy", TopBar)
        pending = len(self.session.pending)
        if not pending:
            bar.update("")
            self.retry_timer.pause()
            return
        why = self.session.busy
        waiting = f"{pending} decision{'s' if pending > 1 else ''} not saved yet"
        if isinstance(why, DiskFull):
            text = Text(f" ⧗ {'disk error' if why.io_error else 'disk full'}: {waiting}", "bold")
            text.append(" · nothing saved is lost · " + ("check the disk" if why.io_error else "free some space"))
        else:
            text = Text(f" ⧗ database busy: {waiting}", "bold")
            holder = getattr(why, "holder", None)
            if holder:
                text.append(f" · write lock held by {visible_text(holder)}")
        text.append(" · retrying ")
        bar.update(text)
        self.retry_timer.resume()

    def retry_pending(self) -> None:
        try:
            saved = self.session.flush_pending(wait=0)  # busy or disk full: they stay pending
        except Exception as exc:  # anything else: keep them pending, say so once
            if str(exc) != getattr(self, "_flush_error", None):
                self._flush_error = str(exc)
                self.say(f"{len(self.session.pending)} decisions still not saved: {exc}; retrying",
                         severity="error", timeout=10)
            return
        if saved:
            self.segment_list.refresh()
            self.update_progress()
            self.refresh_detail()
        self.show_busy()  # the reason may have changed too (the lock released, the disk full)
        if saved and not self.session.pending:
            self.say(f"saved the {saved} decision{'s' if saved > 1 else ''} that waited for the database", timeout=3)

    # ------------------------------------------------------------- navigation
    def _index(self) -> int:
        return self.session.index_of(self.current_id) if self.current_id is not None else -1

    def action_next(self) -> None:
        self.show_index(self._index() + 1)

    def action_previous(self) -> None:
        self.show_index(max(self._index() - 1, 0))

    def action_next_unannotated(self) -> None:
        index = self.session.next_unannotated(self._index())
        if index is None:
            self.say("every segment in the list has a decision", timeout=3)
        else:
            self.show_index(index)

    def action_jump(self) -> None:
        def go(value: str | None) -> None:
            if not value or not value.strip().isdigit():
                return
            segment_id = int(value)
            if not self.session.has_segment(segment_id):
                self.say(f"no segment with id {segment_id}", severity="error", timeout=3)
                return
            self.show_segment(segment_id)

        self.app.push_screen(PromptScreen("Go to segment id", "e.g. 1234", input_type="integer"), go)

    def action_search(self) -> None:
        def go(value: str | None) -> None:
            if value is None:
                return
            self.apply_filter(FilterChoice(replace(self.session.filter, query=value.strip()),
                                           self.session.low_confidence))

        self.app.push_screen(
            PromptScreen("Search the original and the translation (empty: show all)",
                         "a word or phrase", self.session.filter.query), go)

    def action_filters(self) -> None:
        labels = [(lab.name, lab.id) for lab in self.session.scheme.frames]
        current = FilterChoice(self.session.filter, self.session.low_confidence)

        def go(choice: FilterChoice | None) -> None:
            if choice is not None:
                self.apply_filter(choice)

        queue_owner = self.session.user if self.session.queue_size and not self.session.adjudicate else ""
        self.app.push_screen(FilterScreen(current, self.session.languages(), labels, queue_owner,
                                          self.session.queue_size), go)

    def apply_filter(self, choice: FilterChoice) -> None:
        self.session.apply_filter(choice.flt, choice.low_confidence)
        self.list_changed()

    def list_changed(self) -> None:
        """The session's list was replaced (filter, mode): start again from its top."""
        self.segment_list.cursor = 0
        self.segment_list.scroll_to(y=0, animate=False, immediate=True)
        self.segment_list.reset()
        self.query_one("#who", TopBar).update(header_text(self.session))
        self.update_progress()
        self.say(f"{len(self.session.ids)} segments", timeout=2)
        self.current_id = None
        self.show_index(0)

    # ------------------------------------------------------------ adjudication
    def action_toggle_adjudicate(self) -> None:
        self.adjudication.toggle()  # the list is redrawn by the watcher on its mode

    def action_choose(self) -> None:
        if self.current_id is not None:
            self.adjudication.choose(self.current_id)

    @on(Adjudication.Adopted)
    def adopted(self, message: Adjudication.Adopted) -> None:
        if message.outcome == PENDING:
            self.show_busy()
        if self.current_id == message.segment_id:
            self.after_decision(advance=True)

    def action_speech_view(self) -> None:
        """The whole speech of the segment in view, with its own frames (esc returns)."""
        if self.current_id is None:
            return
        from annotator.services.speech_session import SpeechDecisions

        speech_id = self.session.store.segment(self.current_id).speech_id
        decisions = SpeechDecisions(self.session.store, self.session.annotator, self.session.scheme, self.session.wait)
        self.app.push_screen(self.speech_screen(decisions, speech_id, suggest=self.suggest, keys=self.moved_label_keys))

    def action_glossary(self) -> None:
        """The glossary view; ``+`` there adds the span being marked (or the segment's first
        span). Back here, what the glossary now finds in the segment is shown."""
        def closed(changed: bool | None) -> None:
            if changed:
                self.session.forget()
                self.segment_list.refresh()
                self.refresh_detail()

        self.app.push_screen(GlossaryScreen(self.session.store, self.session.annotator, self.glossary_candidate(),
                                            wait=self.session.wait), closed)

    def glossary_candidate(self) -> Candidate | None:
        """The phrase the glossary view offers to add: the selection in span mode, else the
        segment's first span (saved or suggested), with the segment's language (no phrase:
        the language alone)."""
        if self.current_id is None:
            return None
        view = self.session.view(self.current_id)
        text = view.segment.text
        language = view.segment.language or view.speech.language
        selection = self.spans.selected()
        if selection is not None:
            start, end = trimmed_phrase(text, *selection)
            origin = "the span you are marking"
        elif view.spans:
            start, end = view.spans[0].start, view.spans[0].end
            origin = "the segment's first span"
        else:
            start = end = 0
            origin = ""
        return Candidate(text[start:end].strip(), language, origin)

    def action_toggle_guidelines(self) -> None:
        self.guide_open = not self.guide_open

    def action_close_guidelines(self) -> None:
        self.guide_open = False

    def watch_guide_open(self, shown: bool) -> None:
        self.query_one("#guidelines").display = shown
        # In a narrow terminal the guide takes the list's place rather than squeezing the text.
        self.segment_list.display = not (shown and self.size.width < 120)

    @on(SegmentList.Clicked)
    def clicked(self, event: SegmentList.Clicked) -> None:
        self.show_index(event.index)

    # -------------------------------------------------------------- span mode
    def action_span_mode(self, label: str) -> None:
        if self.current_id is not None:
            self.spans.enter(self.current_id, label)  # the detail is redrawn by the watcher on its mode

    def action_span_leave(self) -> None:
        self.spans.leave()

    def action_span_left(self) -> None:
        self.spans.move(-1)

    def action_span_right(self) -> None:
        self.spans.move(1)

    def action_span_extend_left(self) -> None:
        self.spans.move(-1, extend=True)

    def action_span_extend_right(self) -> None:
        self.spans.move(1, extend=True)

    def action_span_commit(self) -> None:
        outcome = self.spans.commit()
        if outcome is not None:
            self._decided(outcome, advance=False)

    def action_span_delete(self) -> None:
        outcome = self.spans.delete()
        if outcome is not None:
            self._decided(outcome, advance=False)

    @on(events.TextSelected)
    def text_selected(self) -> None:
        """A drag over the segment's text with the mouse adds a span over the words it touches
        (the span label of span mode, else the scheme's first), as in web annotation tools."""
        selection = self.spans.text_selection
        if selection is None or self.current_id is None:
            return
        if selection.start is None and selection.end is None:
            return  # a double click selects the whole widget: copying, not marking
        self.clear_selection()
        span = self.spans.span_at(selection)
        if span is None:
            return
        if not self.session.scheme.spans:
            self.say("this scheme has no span label", severity="warning", timeout=3)
            return
        self._decided(self.spans.add(self.current_id, *span), advance=False)

    # ------------------------------------------------------------ suggestions
    def request_suggestions(self, index: int) -> None:
        """Compute suggestions in the background for this segment and the next few.

        One suggestion worker at a time: a new request (the annotator moved on) cancels the
        one running, which stops after its current few segments; what it had not done is
        either in the new request or asked for again when the annotator gets there.
        """
        if not self.suggest or index < 0 or self.setting_up:
            return
        self.start_suggestions(self.session.missing_suggestions(self.session.ids[index:index + PREFETCH]))

    def start_suggestions(self, todo: list[int]) -> None:
        if all(self.in_flight.get(i) == self.suggest_run for i in todo):
            return  # nothing new: the run going on has them all
        self.suggest_run += 1
        for segment_id in todo:
            self.in_flight[segment_id] = self.suggest_run
        self.show_worker(f" ⟳ suggesting {len(todo)} ")
        self.run_suggestions(todo, self.suggest_run)

    @work(thread=True, group="suggest", exclusive=True, exit_on_error=False)
    def run_suggestions(self, segment_ids: list[int], run: int) -> None:
        worker = get_current_worker()
        with self.suggest_lock:  # the run it cancelled finishes its few segments first
            if worker.is_cancelled:
                self.post_message(SuggestionsStopped(segment_ids, run))
                return
            self._suggest(worker, segment_ids, run)

    def _suggest(self, worker: Worker, segment_ids: list[int], run: int) -> None:
        # A sqlite connection belongs to its thread: the worker opens its own.
        store = self.session.store.reopen()
        done = 0
        try:
            for start in range(0, len(segment_ids), SUGGEST_STEP):
                if worker.is_cancelled:
                    break
                chunk = segment_ids[start:start + SUGGEST_STEP]
                compute_suggestions(store, chunk)
                done += len(chunk)
                self.post_message(SuggestionsReady(chunk, run))
                for line in engine_notes():  # a model that runs in PyTorch rather than the engine, once
                    self.app.call_from_thread(self.say, line, timeout=8)
        except Exception as exc:  # noqa: BLE001 - a failed run is reported, never a crash
            message = str(exc) if isinstance(exc, AnnotatorError) else f"{type(exc).__name__}: {exc}"
            self.post_message(SuggestionsStopped(segment_ids[done:], run, message or type(exc).__name__))
            return
        finally:
            store.close()
        self.post_message(SuggestionsStopped(segment_ids[done:], run))

    @on(SuggestionsReady)
    def suggestions_ready(self, message: SuggestionsReady) -> None:
        self.session.attempted.update(message.segment_ids)
        self._release(message.segment_ids, message.run)
        self.session.forget(message.segment_ids)
        self.segment_list.refresh()
        if self.current_id in message.segment_ids:
            self.refresh_detail()

    @on(SuggestionsStopped)
    def suggestions_stopped(self, message: SuggestionsStopped) -> None:
        """A run ended: finished, cancelled (its rest is not marked as attempted, so it is asked
        for again), or failed (likewise, and the annotator is told, once per distinct error)."""
        self._release(message.undone, message.run)
        if message.run == self.suggest_run:
            self.show_worker(" suggestions failed " if message.error else "")
        if message.error and message.error != self.suggest_error:
            self.say(f"suggestions unavailable: {message.error}", severity="error", timeout=6)
        if message.error or message.run == self.suggest_run:
            self.suggest_error = message.error

    def _release(self, segment_ids: list[int], run: int) -> None:
        for segment_id in segment_ids:
            if self.in_flight.get(segment_id) == run:
                del self.in_flight[segment_id]

    def visible_ids(self) -> list[int]:
        """The segments on screen: the list's visible rows and the prefetch window."""
        ids = self.session.ids
        top = self.segment_list.scroll_offset.y
        shown = ids[top:top + max(self.segment_list.size.height, 1)]
        index = self._index()
        ahead = ids[index:index + PREFETCH] if index >= 0 else []
        return list(dict.fromkeys([*([self.current_id] if self.current_id is not None else []), *ahead, *shown]))

    # ------------------------------------------------------- the first models
    def start_setup(self) -> None:
        """Neither a frames nor a spans model is active: set up the default models in a worker (what
        `annotator models setup` does), saying so; suggestions follow when they are ready."""
        self.setting_up = True
        self.show_worker(" ⟳ setting up the default models ")
        self.run_setup()

    @work(thread=True, group="setup", exit_on_error=False)
    def run_setup(self) -> None:
        store = self.session.store.reopen()  # the worker's own connection

        def progress(what: str, step: int, total: int) -> None:
            self.app.call_from_thread(self.show_worker, f" ⟳ {what} {step}/{total} ")

        def note(line: str) -> None:
            self.app.call_from_thread(self.show_worker, f" ⟳ {line[:60]} ")

        try:
            plan = setup_plan(store, self.train_base)  # reads the seed labels: off the UI thread
            self.app.call_from_thread(
                self.say, f"{plan}. Annotate meanwhile: the suggestions in view follow when the models are ready.",
                title="first models", timeout=20)
            lines = list(setup_models(store, base=self.train_base, echo=note, progress=progress))
        except Exception as exc:  # noqa: BLE001 - reported, never a crash
            message = str(exc) if isinstance(exc, AnnotatorError) else f"{type(exc).__name__}: {exc}"
            self.post_message(SetupDone([], message or type(exc).__name__))
            return
        finally:
            store.close()
        self.post_message(SetupDone(lines))

    @on(SetupDone)
    def setup_done(self, message: SetupDone) -> None:
        self.setting_up = False
        self.show_worker("")
        if message.error:
            self.say(f"setting up the default models failed: {message.error}", severity="error", timeout=12)
            return
        active = self.session.store.active_models()
        ready = ", ".join(f"{kind} {active[kind]}" for kind in SUGGESTING_KINDS if kind in active)
        self.session.attempted.clear()
        self.session.forget()
        ahead = self.visible_ids()
        if ahead:
            self.start_suggestions(ahead)
        self.say(f"default models ready ({ready or 'the glossary only'}); suggesting the {len(ahead)} segments "
                 "in view and ahead", title="first models", timeout=10)

    # ---------------------------------------------------------------- retrain
    def action_retrain(self, kinds: str = QUICK_KINDS, method: str = "auto") -> None:
        if self.session.store.path is None:
            self.say("retraining needs a project database file", severity="error", timeout=4)
            return
        if self.training or self.setting_up:
            what = "the default models are being set up" if self.setting_up else "a model is already being trained"
            self.say(what, severity="warning", timeout=3)
            return
        slow = " (fine-tuning: minutes)" if method == "finetune" else ""
        self.say(f"training {kinds.replace(',', ' and ')} on the labels so far{slow}…", timeout=3)
        self.start_training(kinds, method=method)

    def retrain_if_due(self) -> None:
        """Every ``retrain_every`` decisions, the quick frames and spans models retrain in the background."""
        if (self.retrain_every and not self.training and not self.setting_up and self.session.store.path is not None
                and self.session.decisions_made - self.trained_at >= self.retrain_every):
            self.start_training(QUICK_KINDS, background=True)

    def start_training(self, kinds: str, background: bool = False, method: str = "auto") -> None:
        self.training = True
        self.trained_at = self.session.decisions_made
        self.query_one("#worker", TopBar).update(f" ⟳ training {kinds.replace(',', ' + ')} ")
        self.run_training([k.strip() for k in kinds.split(",") if k.strip()], background, method)

    def show_worker(self, text: str) -> None:
        self.query_one("#worker", TopBar).update(text)

    @work(thread=True, group="train", exit_on_error=False)
    def run_training(self, kinds: list[str], background: bool = False, method: str = "auto") -> None:
        store = self.session.store.reopen()

        def progress(what: str, step: int, total: int) -> None:
            self.app.call_from_thread(self.show_worker, f" ⟳ {what} {step}/{total} ")

        try:
            told = retrain(store, self.session.scheme, kinds, base=self.train_base, method=method, progress=progress)
            # in the background, one line each; on request, the whole account
            headlines = [note if background else account for note, account in told]
        except Exception as exc:  # noqa: BLE001 - every failure becomes a notification, never a crash
            message = str(exc) if isinstance(exc, AnnotatorError) else f"{type(exc).__name__}: {exc}"
            self.post_message(TrainingDone([], message or type(exc).__name__, background))
            return
        finally:
            store.close()
        self.post_message(TrainingDone(headlines, background=background))

    @on(TrainingDone)
    def training_done(self, message: TrainingDone) -> None:
        self.training = False
        self.query_one("#worker", TopBar).update("")
        if message.error:
            when = f"background retraining (every {self.retrain_every} decisions)" if message.background else "retraining"
            self.say(f"{when} failed: {message.error}", severity="warning" if message.background else "error",
                     timeout=10)
            return
        # The new version has no suggestions yet: recompute those in view and ahead, the rest on demand.
        self.session.attempted.clear()
        self.session.forget()
        self.segment_list.refresh()
        self.refresh_detail()
        ahead = self.visible_ids() if self.suggest else []
        if ahead:
            self.start_suggestions(ahead)
        note = f"; {len(ahead)} suggestions in view and ahead refreshed" if ahead else ""
        title = f"background retraining (every {self.retrain_every} decisions)" if message.background else "retrained"
        joiner = "; " if message.background else "\n"  # in the background, one line for every kind
        self.say(joiner.join(message.headlines) + note, title=title, timeout=15)

    # ------------------------------------------------------ more like this one
    def action_more_like_this(self) -> None:
        if self.current_id is None:
            return
        if self.session.store.path is None:
            self.say("similar segments need a project database file", severity="error", timeout=4)
            return
        self.show_worker(f" ⟳ segments like {self.current_id} ")
        self.find_similar(self.current_id)

    @work(thread=True, group="similar", exclusive=True, exit_on_error=False)
    def find_similar(self, segment_id: int) -> None:
        from annotator.services.similar import similar_segments

        store = self.session.store.reopen()  # the worker's own connection

        def progress(what: str, done: int, total: int) -> None:
            self.app.call_from_thread(self.show_worker, f" ⟳ {what} {done}/{total} ")

        try:
            ranked = similar_segments(store, segment_id, k=SIMILAR_K, progress=progress)
        except Exception as exc:  # noqa: BLE001 - reported, never a crash
            message = str(exc) if isinstance(exc, AnnotatorError) else f"{type(exc).__name__}: {exc}"
            self.post_message(SimilarReady(segment_id, [], message or type(exc).__name__))
            return
        finally:
            store.close()
        self.post_message(SimilarReady(segment_id, ranked))

    @on(SimilarReady)
    def similar_ready(self, message: SimilarReady) -> None:
        self.show_worker("")
        if message.error:
            self.say(f"no similar segments: {message.error}", severity="error", timeout=8)
            return
        self.session.show_similar(message.segment_id, message.ranked)
        self.list_changed()
        if self.session.ids:
            self.say("nearest first; f then Clear shows the whole list again", timeout=4)

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.query_one("#worker", TopBar).update(" suggestions failed ")
            self.say(f"suggestions unavailable: {event.worker.error}", severity="error", timeout=6)


class AnnotatorApp(App):
    TITLE = "annotator"
    CSS = """
    #top { height: 1; background: $panel; }
    #who { width: 1fr; padding-left: 1; }
    #progress { width: auto; }
    #progress Bar { width: 16; }
    #rate, #busy, #worker { width: auto; }
    #busy { color: $warning; }
    #worker { color: $accent; }
    #main { height: 1fr; }
    #list { width: 32%; min-width: 24; max-width: 48; border-right: vkey $panel; }
    #detail { width: 1fr; padding: 0 1; }
    #meta { color: $text-muted; margin-bottom: 1; }
    #original { border-left: outer $accent 60%; padding-left: 0; }
    #after { margin-bottom: 1; }
    #others { padding: 0 1; margin-bottom: 1; }
    #translation { color: $text-muted; padding: 0 1; margin-bottom: 1; }
    #glossary { padding: 0 1; margin-bottom: 1; }
    #votes { padding: 0 1; margin-bottom: 1; display: none; }
    #frames { padding: 0 1; }
    #guidelines { width: 42; display: none; border-left: vkey $panel; padding: 0 1; }
    """

    def __init__(self, session: Session, suggest: bool = True, train_base: str | None = None,
                 keymap: dict[str, str] | None = None, retrain_every: int = 0, setup: bool = False) -> None:
        super().__init__()
        self.session = session
        self.setup = setup
        self.retrain_every = retrain_every
        self.suggest = suggest
        self.train_base = train_base
        self.quit_anyway = False  # ctrl+q pressed once with decisions still unsaved
        self.keymap = dict(keymap or {})  # binding id -> keys, checked by bindings.user_keymap
        if self.keymap:
            self.set_keymap(self.keymap)

    def on_mount(self) -> None:
        screen = AnnotateScreen.for_scheme(self.session.scheme)
        self.push_screen(screen(self.session, self.suggest, self.train_base, self.keymap, self.retrain_every,
                                setup=self.setup))

    def on_unmount(self) -> None:
        self.session.store.close()

    async def action_quit(self) -> None:
        """Quit; with decisions still waiting for a busy database, try once more, and quit
        without them only if asked twice."""
        session = self.session
        if session.pending:
            session.flush_pending(wait=1.0)
        if session.pending and not self.quit_anyway:
            self.quit_anyway = True
            self.set_timer(6, lambda: setattr(self, "quit_anyway", False))
            n = len(session.pending)
            wait_for = ("Free some space on the disk" if isinstance(session.busy, DiskFull)
                        else "Wait for the write lock to be released")
            say(self, f"{n} decision{'s are' if n > 1 else ' is'} not saved yet: {session.busy}. "
                      f"{wait_for}, or press ctrl+q again to quit without "
                      f"{'them' if n > 1 else 'it'}.", severity="error", timeout=6)
            return
        self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette offers every action the screen's keys do, plus Textual's own."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.action in seen or not active.enabled:
                continue
            seen.add(binding.action)
            # The palette reads titles and help as markup: escaped (tooltips already are).
            help_text = binding.tooltip or markup_literal(binding.description)
            yield SystemCommand(
                markup_literal(binding.description), f"{help_text} (key: {markup_literal(key)})",
                lambda action=binding.action, node=active.node: self.run_action(action, node))
        if isinstance(screen, AnnotateScreen) and not screen.span_mode:
            # Fine-tuning takes minutes, not seconds: offered here, on no key.
            yield SystemCommand("Fine-tune frames and spans models (slow)",
                                "Fine-tune the encoder's frames head and slogan tagger on the labels so far "
                                "(minutes); each becomes active if it scores at least as well",
                                lambda: screen.action_retrain("frames,spans", "finetune"))


def make_app(store_path: str | Path | None, annotator: str, scheme: str | Scheme | None = None,
             suggest: bool = True, store: Store | None = None, adjudicate: bool = False,
             train_base: str | None = None, retrain_every: int = 0, setup: bool = False,
             queue: str | None = None) -> AnnotatorApp:
    """The one app factory, for the CLI and the tests (``store`` overrides ``store_path``).

    ``adjudicate`` starts in adjudication mode; ``train_base`` is the encoder "retrain now" uses
    (a folder or a saved version; None: the default encoder); ``retrain_every`` N retrains the
    quick frames models in the background after every N decisions (0: only on ctrl+t); ``setup``: where no
    frames or spans model is active, set up the default models in a worker (``annotator annotate`` does;
    ``train_base`` is their encoder too); ``queue``: the list starts as that queue, in its order
    (``next`` or ``next:N``: the segments ``annotator next`` lists). The user's keymap file, if any
    (``ANNOTATOR_KEYMAP``, or ``keymap.toml`` in the project folder), is checked here, before
    anything opens: a bad entry is one ``AnnotatorError`` naming the file and the entry.
    """
    scheme_obj = scheme if isinstance(scheme, Scheme) else get_scheme(scheme)
    keymap = user_keymap(scheme_obj, AnnotatorApp)
    store = store or Store.open(store_path)  # type: ignore[arg-type]
    session = Session(store, annotator, scheme_obj, adjudicate=adjudicate)
    if queue:
        from annotator.services.suggest import queue_segments

        session.show_queue(*queue_segments(store, queue, session.annotator))
    return AnnotatorApp(session, suggest=suggest,
                        train_base=train_base, keymap=keymap, retrain_every=retrain_every, setup=setup)

"""The glossary view (``G``): the project's glossary of known formulations — phrase, language,
official rendering, note, source — with search (``/``: every word, in any order, in any
column) and ``+``, which adds an entry: the phrase of the span being marked (span mode), or
else of the segment's first span, and its language filled in, the official rendering typed.
An entry is saved at once through ``services.glossary`` (which finds it again in the segments
where it occurs; the Chinese glosses that contain it are made again in the background). Esc
returns. Its keys come from the one key table (``keymap.screen_keys(glossary_view=True)``), so
a keymap moves them here too.

Every string in it is data (phrases, renderings, notes, sources, search terms): drawn as
``Text``, never as markup, with control characters made visible.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from annotator.corpora.glossary import clean_phrase
from annotator.errors import AnnotatorError
from annotator.keymap import screen_keys
from annotator.services.glossary import GlossaryChange, add_entry, entry_language, listing, regloss, search_glossary
from annotator.store import GlossaryEntry, Store
from annotator.text import display_line, visible_text
from annotator.ui.bindings import screen_bindings
from annotator.ui.screens import MODAL_CSS
from annotator.ui.widgets import say

COLUMNS = ("Phrase", "Lang", "Official rendering", "Note", "Source")


@dataclass(frozen=True)
class Candidate:
    """What ``+`` fills in: a phrase from the segment in view (or none) and its language."""

    phrase: str
    language: str
    origin: str = ""  # "the span you are marking", "the segment's first span"


def cell(value: str, style: str = "") -> Text:
    """One table cell: literal text on one line, control characters visible, right-to-left
    text reordered for display."""
    return Text(display_line(visible_text(value.replace("\n", " "))), style=style, no_wrap=True,
                overflow="ellipsis", end="")


def entry_detail(entry: GlossaryEntry | None) -> Text:
    """The highlighted entry in full: phrase (language) → rendering, then its variants, note
    and source."""
    text = Text(end="")
    if entry is None:
        text.append("no entry", "dim italic")
        return text
    text.append(display_line(visible_text(entry.source_text)), "bold")
    text.append(f" ({visible_text(entry.language)}) → ")
    text.append(display_line(visible_text(entry.rendering)), "bold")
    for name, value in (("also", entry.variants), ("note", entry.note), ("source", entry.source)):
        if value:
            text.append(f"\n{name}: ", "dim")
            text.append(visible_text(value))
    return text


@dataclass(frozen=True)
class Saved:
    phrase: str
    language: str
    change: GlossaryChange


class EntryForm(ModalScreen[Saved | None]):
    """Add (or change) one glossary entry: phrase, language, rendering, note, source. Enter in
    any field saves it at once (through ``save``; a failure is said and the form stays, with
    what was typed); escape cancels."""

    DEFAULT_CSS = MODAL_CSS + """
    EntryForm { align: center middle; }
    EntryForm > Vertical { width: 80; max-width: 100%; height: auto; padding: 1 2;
                           border: round $accent; background: $surface; }
    """
    SCOPED_CSS = False
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="glossary.form.cancel")]
    FIELDS = (("phrase", "Phrase"), ("language", "Language"), ("rendering", "Official rendering"),
              ("note", "Note"), ("source", "Source"))

    def __init__(self, values: dict[str, str], save, background: bool = True) -> None:
        super().__init__()
        self.values = values
        self.save = save  # values → GlossaryChange (raises AnnotatorError)
        self.background = background  # saved in a worker (its own connection), not on the UI thread
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Add to the glossary (enter saves, escape cancels)", classes="modal-title")
            for name, title in self.FIELDS:
                with Horizontal(classes="modal-row"):
                    yield Label(title)
                    yield Input(value=self.values.get(name, ""), compact=True, id=f"entry-{name}",
                                placeholder="where it was published" if name == "source" else "")

    def on_mount(self) -> None:
        first_empty = next((n for n, _ in self.FIELDS if not self.values.get(n)), "rendering")
        self.query_one(f"#entry-{first_empty}", Input).focus()

    def value(self, name: str) -> str:
        return self.query_one(f"#entry-{name}", Input).value

    @on(Input.Submitted)
    def submitted(self) -> None:
        for name in ("phrase", "rendering"):
            if not self.value(name).strip():
                say(self.app, f"type the {dict(self.FIELDS)[name].lower()} first", severity="warning", timeout=3)
                self.query_one(f"#entry-{name}", Input).focus()
                return
        values = {name: self.value(name).strip() for name, _ in self.FIELDS}
        if self.saving:  # enter again while the save runs
            return
        self.saving = True
        if self.background:  # the save rescans the corpus for the phrase: seconds on a big one
            self.save_in_worker(values)
        else:
            self.save_now(values)

    @work(thread=True, group="glossary-save", exit_on_error=False)
    def save_in_worker(self, values: dict[str, str]) -> None:
        self.save_now(values, self.app.call_from_thread)

    def save_now(self, values: dict[str, str], call=lambda f, *a, **k: f(*a, **k)) -> None:
        """Save, then close with what was saved; a failure is said and the form stays."""
        try:
            change = self.save(values)
            saved = Saved(clean_phrase(values["phrase"]), entry_language(values["language"]), change)  # as saved
        except AnnotatorError as exc:
            call(self.failed, f"not saved: {exc}")
            return
        call(self.dismiss, saved)

    def failed(self, message: str) -> None:
        self.saving = False
        say(self.app, message, severity="error", timeout=6)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GlossaryScreen(Screen[bool]):
    """The glossary view; dismissed with whether the glossary changed."""

    BINDINGS = screen_bindings(screen_keys(glossary_view=True))
    DEFAULT_CSS = """
    GlossaryScreen #glossary-meta { height: 1; color: $text-muted; padding: 0 1; }
    GlossaryScreen #glossary-search { margin: 0 1; }
    GlossaryScreen #glossary-table { height: 1fr; margin: 0 1; }
    GlossaryScreen #glossary-detail { height: auto; max-height: 8; padding: 0 1; border-top: hkey $panel; }
    """

    def __init__(self, store: Store, annotator: str, candidate: Candidate | None = None, wait: float = 0.2) -> None:
        super().__init__()
        self.store = store
        self.annotator = annotator
        self.candidate = candidate
        self.wait = wait  # seconds a save waits for a busy database
        self.all_entries: list[GlossaryEntry] = []  # read once, and again after a save
        self.entries: list[GlossaryEntry] = []  # those the search shows
        self.changed = False

    def compose(self) -> ComposeResult:
        yield Static(id="glossary-meta")
        yield Input(placeholder="search: words in any order (phrase, rendering, note, source)", compact=True,
                    id="glossary-search")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="glossary-table")
        yield Static(id="glossary-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # the screen less the table's margins, each cell's padding and the scrollbar
        width = max(self.app.size.width - 2 - 2 * len(COLUMNS) - 2, 60)
        phrase, lang, rendering = 20, 4, max(24, width // 4)
        rest = max(width - phrase - lang - rendering, 20)
        for title, size in zip(COLUMNS, (phrase, lang, rendering, rest // 2, rest - rest // 2)):
            table.add_column(title, width=size)
        self.all_entries = listing(self.store)
        self.fill()
        table.focus()

    # ----------------------------------------------------------------- showing
    @property
    def search_text(self) -> str:
        return self.query_one("#glossary-search", Input).value

    def fill(self, select: tuple[str, str] | None = None) -> None:
        """The entries with every word of the search, the cursor on ``select`` where given."""
        self.entries = search_glossary(self.all_entries, self.search_text)
        table = self.query_one(DataTable)
        table.clear()
        for e in self.entries:
            table.add_row(cell(e.source_text, "bold"), cell(e.language), cell(e.rendering), cell(e.note, "dim"),
                          cell(e.source, "dim"))
        if select is not None:
            row = next((i for i, e in enumerate(self.entries) if (e.source_text, e.language) == select), None)
            if row is not None:
                table.move_cursor(row=row)
        self.show_meta()
        self.show_detail()

    def show_meta(self) -> None:
        total = len(self.all_entries)
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("Glossary", "bold")
        text.append(f"  ·  {total} formulation{'s' if total != 1 else ''}")
        if self.search_text.strip():
            text.append(f"  ·  {len(self.entries)} with “")
            text.append(visible_text(self.search_text.strip()))
            text.append("”")
        if self.candidate and self.candidate.phrase:
            text.append("  ·  + adds ", "dim")
            text.append(display_line(visible_text(self.candidate.phrase)), "bold")
            text.append(f" ({visible_text(self.candidate.language)}), {self.candidate.origin}", "dim")
        self.query_one("#glossary-meta", Static).update(text)

    def highlighted(self) -> GlossaryEntry | None:
        row = self.query_one(DataTable).cursor_row
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def show_detail(self) -> None:
        self.query_one("#glossary-detail", Static).update(entry_detail(self.highlighted()))

    @on(DataTable.RowHighlighted)
    def row_highlighted(self) -> None:
        self.show_detail()

    @on(Input.Changed, "#glossary-search")
    def search_changed(self) -> None:
        self.fill()

    @on(Input.Submitted, "#glossary-search")
    def search_done(self) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#glossary-search", Input).focus()

    # ------------------------------------------------------------------ adding
    def action_add_entry(self) -> None:
        values = {"phrase": "", "language": "", "rendering": "", "note": "", "source": ""}
        if self.candidate:
            values.update(phrase=self.candidate.phrase, language=self.candidate.language)
        if self.candidate and self.candidate.phrase:
            known = self.store.glossary_entry(self.candidate.phrase, self.candidate.language)
            if known is not None:  # in the glossary already: the form changes it
                values.update(rendering=known.rendering, note=known.note, source=known.source)

        def saved(result: Saved | None) -> None:
            if result is None:
                return
            self.changed = True
            self.all_entries = listing(self.store)
            self.fill(select=(result.phrase, result.language))
            say(self.app, f"saved: {result.phrase} ({result.language}); {result.change.line()}", timeout=4)
            if result.change.glosses and self.store.path is not None:
                self.gloss_again(result.change.glosses)

        self.app.push_screen(EntryForm(values, self.save, background=self.store.path is not None), saved)

    def save(self, values: dict[str, str]) -> GlossaryChange:
        """The form's values, saved through the service (raises what it raises): on a connection
        of its own where the project is a file (the form saves in a worker); an in-memory project
        (tests) is saved, and glossed, at once."""
        store = self.store.reopen() if self.store.path is not None else self.store
        try:
            return add_entry(store, values["phrase"], values["language"], values["rendering"], values["note"],
                             values["source"], annotator=self.annotator, wait=self.wait,
                             gloss_now=self.store.path is None)
        finally:
            if store is not self.store:
                store.close()

    @work(thread=True, group="glossary", exit_on_error=False)
    def gloss_again(self, segment_ids: list[int]) -> None:
        """The Chinese glosses that contain the new phrase, made again (the glosser may take
        seconds to load) on the worker's own connection."""
        store = self.store.reopen()
        try:
            regloss(store, segment_ids)
        except Exception as exc:  # noqa: BLE001 - reported, never a crash
            self.app.call_from_thread(say, self.app, f"glosses not made again: {exc}", severity="warning",
                                      timeout=6)
        finally:
            store.close()

    def action_close(self) -> None:
        self.dismiss(self.changed)

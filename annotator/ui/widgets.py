"""Widgets of the annotation screen. Corpus text is only ever put into ``rich.text.Text``
objects (never into markup strings), and passed through ``visible_text`` first, so brackets,
markup and escape sequences in a speech are shown literally."""

from __future__ import annotations

from collections.abc import Mapping

from rich import box
from rich.cells import cell_len
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import App
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from annotator.schemes import Scheme
from annotator.services.session import (
    STATUS_ICONS,
    SegmentView,
    Session,
    Vote,
)
from annotator.text import display_line, visible_text, visual_order
from annotator.store import SpanLabel


def say(app: App, message: str, title: str = "", **kwargs) -> None:
    """Notify with literal text: messages quote search terms, names, file names and errors."""
    literal = "\n".join(visible_text(line) for line in message.split("\n"))
    app.notify(literal, title=visible_text(title), markup=False, **kwargs)


class SegmentList(ScrollView, can_focus=False):
    """The segment list, virtualised: one ``render_line`` per visible row, rows fetched a page
    at a time from the session, so 100,000 segments cost 100,000 ints and nothing more."""

    COMPONENT_CLASSES = {"segment-list--cursor", "segment-list--dim"}
    DEFAULT_CSS = """
    SegmentList { background: $surface; }
    SegmentList > .segment-list--cursor { background: $accent 30%; text-style: bold; }
    SegmentList > .segment-list--dim { color: $text-muted; }
    """

    class Clicked(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, session: Session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.cursor = 0

    def reset(self) -> None:
        """The list of ids changed (filter, search): resize and repaint."""
        self.virtual_size = Size(self.size.width, len(self.session.ids))
        self.cursor = min(self.cursor, max(len(self.session.ids) - 1, 0))
        self.refresh()

    def on_mount(self) -> None:
        self.reset()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.session.ids))

    def move_to(self, index: int) -> None:
        """Put the cursor on ``index`` and scroll just enough to show it."""
        self.cursor = index
        top, height = self.scroll_offset.y, max(self.size.height, 1)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        top = self.scroll_offset.y
        index = top + y
        width = self.size.width
        if index >= len(self.session.ids):
            return Strip.blank(width, self.rich_style)
        rows = self.session.rows(top, max(self.size.height, 1))
        row = rows[y] if y < len(rows) else None
        if row is None:
            return Strip.blank(width, self.rich_style)
        text = Text(no_wrap=True, end="")
        icon_style = self.get_component_rich_style("segment-list--dim") if row.status in ("untouched",) else None
        text.append(STATUS_ICONS.get(row.status, "?"), icon_style or "")
        text.append(f" {row.speech_id:>3}·{row.position:<3} ", self.get_component_rich_style("segment-list--dim"))
        text.append(f"{visible_text(row.language) or '??':<3}")
        remaining = width - text.cell_len
        if remaining > 2:
            text.append(display_line(_truncate_cells(row.preview, remaining)))
        style = self.rich_style
        if index == self.cursor:
            style = style + self.get_component_rich_style("segment-list--cursor")
        text.stylize(style)
        strip = Strip(list(text.render(self.app.console)))
        return strip.adjust_cell_length(width, style)

    def on_click(self, event) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.session.ids):
            self.post_message(self.Clicked(index))


def _truncate_cells(text: str, width: int) -> str:
    """The start of ``text`` that fits in ``width`` cells (double-width characters count 2)."""
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out)


class SegmentText(Widget):
    """A segment's original text: spans highlighted, the span-mode selection in reverse.

    Lines are wrapped in logical order, then each line is reordered for display (bidi), so
    a highlight always covers the code points of its span whatever the script.
    """

    COMPONENT_CLASSES = {"segment-text--span", "segment-text--selection"}
    DEFAULT_CSS = """
    SegmentText { height: auto; padding: 0 1; }
    SegmentText > .segment-text--span { color: $accent; text-style: bold underline; }
    SegmentText > .segment-text--selection { text-style: reverse; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = ""
        self.spans: tuple[SpanLabel, ...] = ()
        self.selection: tuple[int, int] | None = None

    def show(self, text: str, spans: tuple[SpanLabel, ...], selection: tuple[int, int] | None = None) -> None:
        self.text = visible_text(text.replace("\n", " "))
        self.spans = spans
        self.selection = selection
        self.refresh(layout=True)

    def wrap(self, width: int) -> list[tuple[int, int]]:
        """Logical ``(start, end)`` of each display line, breaking after spaces."""
        width = max(width, 4)
        lines: list[tuple[int, int]] = []
        start, used, last_space = 0, 0, -1
        for i, ch in enumerate(self.text):
            w = cell_len(ch)
            if used + w > width and i > start:
                cut = last_space + 1 if last_space >= start else i
                lines.append((start, cut))
                start, last_space = cut, -1
                used = cell_len(self.text[start:i])
            used += w
            if ch == " ":
                last_space = i
        lines.append((start, len(self.text)))
        return lines

    def lines(self, width: int) -> list[Text]:
        span_style = self.get_component_rich_style("segment-text--span")
        sel_style = self.get_component_rich_style("segment-text--selection")
        out = []
        for start, end in self.wrap(width):
            line = Text(end="")
            for index, ch in visual_order(self.text[start:end]):
                offset = start + index
                style = Style()
                if any(s.start <= offset < s.end for s in self.spans):
                    style += span_style
                if self.selection and self.selection[0] <= offset < self.selection[1]:
                    style += sel_style
                line.append(ch, style)
            out.append(line)
        return out

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.wrap(width))

    def render(self) -> Text:
        return Text("\n", end="").join(self.lines(self.content_size.width or self.size.width))


def frame_checklist(view: SegmentView, scheme: Scheme, accent: Style,
                    keys: Mapping[str, str] | None = None) -> Text:
    """The frame labels as a checklist: key, box, name, the model's score. ``keys``: binding id
    (``frame.<label id>``) → the key shown, where a keymap moved it (else the scheme's key)."""
    keys = keys or {}
    text = Text(end="")
    if view.margin is not None:
        text.append("best frame ahead of the next by ", "dim")
        text.append(f"{view.margin:.2f}\n", "bold")
    name_width = max((len(lab.name) for lab in scheme.frames), default=10)
    shown = {lab.id: visible_text(keys.get(f"frame.{lab.id}", lab.key)) or " " for lab in scheme.frames}
    key_width = max((len(k) for k in shown.values()), default=1)
    for row in view.frames:
        box = "[x]" if row.checked else "[ ]"
        line_style = accent if row.checked else Style()
        text.append(f"{shown.get(row.label.id, ' '):<{key_width}} ", "dim")
        text.append(box, line_style)
        text.append(f" {visible_text(row.label.name):<{name_width}}", line_style)
        if row.score is not None:
            text.append(f" {row.score:.2f}", "bold" if row.suggested else "dim")
            if row.suggested:
                text.append(" ◇", accent)
        text.append("\n")
    text.rstrip()
    return text


def meta_line(view: SegmentView) -> Text:
    sp, seg = view.speech, view.segment
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"{STATUS_ICONS.get(view.status, '?')} {view.status}", "bold")
    if view.pending:
        text.append(f" {STATUS_ICONS['pending']} not saved yet", "bold reverse")
    where = f"{view.index + 1}/{view.total}" if view.index >= 0 else "not in list"
    text.append(f"  ·  #{seg.id} ({where})  ·  {visible_text(seg.language) or '??'}  ·  ", "dim")
    title = " — ".join(x for x in (sp.title, sp.speaker, sp.date) if x)
    text.append(display_line(visible_text(title or f"speech {sp.id}")))
    text.append(f"  ¶{seg.position}", "dim")
    return text


def translation_text(view: SegmentView) -> Text:
    text = Text(end="")
    tr = view.translation
    if tr is None and view.segment.language == "en":
        text.append("(the original is English)", "dim italic")
        return text
    if tr is None:
        text.append("no translation yet", "dim italic")
        return text
    text.append(display_line(visible_text(tr.text)))
    provenance = tr.provenance + (f": {tr.model}" if tr.model else "")
    text.append(f"\n({visible_text(provenance)})", "dim")
    return text


def glossary_text(view: SegmentView) -> Text:
    text = Text(end="")
    for hit in view.glossary:
        text.append(display_line(visible_text(hit.source_text)), "bold")
        text.append(" → ")
        text.append(display_line(visible_text(hit.rendering)))
        text.append("\n")
    text.rstrip()
    return text


def guidelines_text(scheme: Scheme, keys: Mapping[str, str] | None = None) -> Text:
    """Every label with its key and definition (``keys`` as for :func:`frame_checklist`), then
    how the screen works."""
    keys = keys or {}
    text = Text(end="")
    text.append(f"{visible_text(scheme.title)}\n\n", "bold")
    labels = [*((f"frame.{lab.id}", lab) for lab in scheme.frames), *((f"spans.{lab.id}", lab) for lab in scheme.spans)]
    for binding_id, lab in labels:
        text.append(f"{visible_text(keys.get(binding_id, lab.key)) or '·'}  {visible_text(lab.name)}\n", "bold")
        text.append(f"{visible_text(lab.definition)}\n\n")
    text.append(
        "a accept · x reject · space skip · backspace undo · U redo\n"
        "Toggling a frame or editing a span is saved at once (status corrected); "
        "a saves the labels as they stand (accepted if unchanged).\n"
        "Span mode: ←/→ move, shift+←/→ extend, enter add or resize, delete remove, escape leave.\n"
        "v the whole speech: its suggested frames and its own (the frame keys, a, x, undo there too; escape returns).\n"
        "d adjudication mode (disagreements only; c takes one annotator's decision) · "
        "ctrl+t retrain the frames and slogan models now (they also retrain every few decisions) · ctrl+p all commands.\n"
        "Ctrl+q quits (q toggles a frame).", "dim")
    return text


def header_text(session: Session) -> Text:
    """The top bar: who, which mode or queue, and the filters in force (names, search terms and
    the scheme's name are data: shown as they are, never as markup)."""
    flt = session.filter
    parts = [f"{k}={v}" for k, v in (("search", flt.query), ("language", flt.language),
                                     ("speech", flt.speech_id), ("status", flt.status),
                                     ("frame", flt.label)) if v not in ("", None)]
    if session.low_confidence:
        parts.append("least sure first")
    if session.similar_to is not None:  # a list of its own: the filters above are not in force
        parts = [f"like segment {session.similar_to} ({len(session.ids)})"]
    elif session.queue_name is not None:
        parts = [f"queue: {session.queue_name}, in its order ({len(session.ids)})"]
    head = f"annotator · {session.user}"
    if session.adjudicate:
        n = len(session.disputed)
        head += f" · adjudicating ({n} disagreement{'' if n == 1 else 's'})"
    elif flt.assigned_to:
        head += f" · queue: mine ({session.queue_size})"
    elif session.queue_size:
        head += " · queue: all"
    return Text(visible_text(head + " · " + (", ".join(parts) or session.scheme.name)), no_wrap=True,
                overflow="ellipsis", end="")


def votes_table(votes: list[Vote], scheme: Scheme, accent: Style) -> Table:
    """Each annotator's decision side by side; labels not everyone chose stand out."""
    names = {lab.id: lab.name for lab in (*scheme.frames, *scheme.spans)}
    shared = set.intersection(*(set(v.frames) for v in votes)) if votes else set()
    shared_spans = set.intersection(*(set(v.spans) for v in votes)) if votes else set()
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False,
                  title=Text("Annotators disagree: c then 1–9 takes one's decision, or edit below",
                             "bold"), title_justify="left")
    table.add_column("#", width=2, no_wrap=True)
    table.add_column("annotator", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("frames", ratio=1)
    table.add_column("spans", ratio=1)
    for i, vote in enumerate(votes, 1):
        who = Text(f"{STATUS_ICONS.get(vote.status, '?')} ")
        who.append(visible_text(vote.annotator))
        frames = Text(end="")
        for frame in vote.frames:
            frames.append(visible_text(names.get(frame, frame)), Style() if frame in shared else accent)
            frames.append("\n")
        if not vote.frames:
            frames.append("none" if vote.status != "rejected" else "rejected: nothing", "dim")
        frames.rstrip()
        spans = Text(end="")
        for span, covered in zip(vote.spans, vote.span_texts):
            spans.append("«" + display_line(visible_text(covered)) + "»",
                         Style() if span in shared_spans else accent)
            spans.append(f" {span.start}–{span.end}\n", "dim")
        if not vote.spans:
            spans.append("none", "dim")
        spans.rstrip()
        table.add_row(str(i) if i <= 9 else "", who, frames, spans)
    return table


class TopBar(Static):
    DEFAULT_CSS = "TopBar { height: 1; width: 1fr; color: $text-muted; }"

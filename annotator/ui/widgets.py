"""Widgets of the annotation screen. Corpus text is only ever put into ``rich.text.Text``
objects (never into markup strings), and passed through ``visible_text`` first, so brackets,
markup and escape sequences in a speech are shown literally."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import App
from textual.geometry import Offset, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from annotator.schemes import Scheme
from annotator.services.session import (
    NO_SCORE_REASONS,
    OTHERS,
    STATUS_ICONS,
    FrameRow,
    SegmentView,
    Session,
    Vote,
)
from annotator.text import display_line, visible_text, visual_order
from annotator.store import SpanLabel, Translation
from annotator.thresholds import score_text


def say(app: App, message: str, title: str = "", **kwargs) -> None:
    """Notify with literal text: messages quote search terms, names, file names and errors."""
    literal = "\n".join(visible_text(line) for line in message.split("\n"))
    app.notify(literal, title=visible_text(title), markup=False, **kwargs)


SCROLL_MARGIN = 2  # rows the list keeps in view above and below the current one


class SegmentList(ScrollView, can_focus=False):
    """The segment list, virtualised: one ``render_line`` per visible row, rows fetched a page
    at a time from the session, so 100,000 segments cost 100,000 ints and nothing more.

    Rows are cut to the width left beside the scrollbar (it never scrolls sideways), in logical
    order, then reordered for display: a right-to-left row shows the start of its sentence."""

    COMPONENT_CLASSES = {"segment-list--cursor", "segment-list--dim"}
    DEFAULT_CSS = """
    SegmentList { background: $surface; overflow-x: hidden; }
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
        self.virtual_size = Size(0, len(self.session.ids))  # no width of its own: rows fit the list
        self.cursor = min(self.cursor, max(len(self.session.ids) - 1, 0))
        self.refresh()

    def on_mount(self) -> None:
        self.reset()

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self.session.ids))
        self.call_after_refresh(self.move_to, self.cursor)  # a smaller list keeps the current row in view

    @property
    def rows_shown(self) -> int:
        """How many rows the list shows (its height less a horizontal scrollbar, were there one)."""
        return max(self.scrollable_content_region.height, 1)

    def move_to(self, index: int) -> None:
        """Put the cursor on ``index`` and scroll just enough to show it with ``SCROLL_MARGIN``
        rows above and below (fewer at either end of the list, or in a very short list)."""
        self.cursor = index
        top, height = self.scroll_offset.y, self.rows_shown
        margin = min(SCROLL_MARGIN, (height - 1) // 2)
        if index - margin < top:
            self.scroll_to(y=max(index - margin, 0), animate=False, immediate=True)
        elif index + margin >= top + height:
            self.scroll_to(y=index + margin - height + 1, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        top = self.scroll_offset.y
        index = top + y
        width = self.scrollable_content_region.width  # beside the scrollbar, never under it
        if index >= len(self.session.ids):
            return Strip.blank(width, self.rich_style)
        rows = self.session.rows(top, max(self.size.height, 1))
        row = rows[y] if y < len(rows) else None
        if row is None:
            return Strip.blank(width, self.rich_style)
        text = Text(no_wrap=True, end="")
        icon_style = self.get_component_rich_style("segment-list--dim") if row.status in ("untouched",) else None
        text.append(STATUS_ICONS.get(row.status, "?"), icon_style or ("bold" if row.status == OTHERS else ""))
        text.append(f" {row.speech_id:>3}·{row.position:<3} ", self.get_component_rich_style("segment-list--dim"))
        text.append(f"{visible_text(row.language) or '??':<3}")
        remaining = width - text.cell_len
        if remaining > 2:
            text.append(display_line(truncate_cells(row.preview, remaining)))  # cut, then reorder
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


def truncate_cells(text: str, width: int, ellipsis: str = "") -> str:
    """The start of ``text`` in logical order that fits in ``width`` cells (double-width
    characters count 2), ending with ``ellipsis`` where it is cut. Cut first, reorder for
    display after (``display_line``): a right-to-left line then shows its start, not its end."""
    if cell_len(text) <= width:
        return text
    width -= cell_len(ellipsis)
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out) + ellipsis


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
        return wrap_cells(self.text, width)

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

    def offsets_at(self, selection: Selection) -> tuple[int, int] | None:
        """The code points ``(start, end)`` of the text a mouse selection covers (``None``: none).

        Textual's selection offsets are (character, line) in the lines as drawn, i.e. in display
        order; each is mapped back to its logical offset, so a selection over right-to-left text
        gives the logical range too."""
        lines = self.wrap(self.content_size.width or self.size.width)
        if not lines or not self.text:
            return None
        first = selection.start or Offset(0, 0)
        last = selection.end or Offset(lines[-1][1] - lines[-1][0], len(lines) - 1)
        covered = []
        for y in range(max(first.y, 0), min(last.y, len(lines) - 1) + 1):
            start, end = lines[y]
            order = visual_order(self.text[start:end])
            x0 = first.x if y == first.y else 0
            x1 = last.x if y == last.y else len(order)
            covered += [start + order[x][0] for x in range(max(x0, 0), min(x1, len(order)))]
        covered = [i for i in covered if not self.text[i].isspace()]
        return (min(covered), max(covered) + 1) if covered else None


def wrap_cells(text: str, width: int) -> list[tuple[int, int]]:
    """Logical ``(start, end)`` of each line of ``text`` wrapped to ``width`` cells, breaking
    after spaces (inside a word only when it is longer than a line)."""
    width = max(width, 4)
    lines: list[tuple[int, int]] = []
    start, used, last_space = 0, 0, -1
    for i, ch in enumerate(text):
        w = cell_len(ch)
        if used + w > width and i > start:
            cut = last_space + 1 if last_space >= start else i
            lines.append((start, cut))
            start, last_space = cut, -1
            used = cell_len(text[start:i])
        used += w
        if ch == " ":
            last_space = i
    lines.append((start, len(text)))
    return lines


class ContextText(SegmentText):
    """A neighbouring segment of the speech, dimmed: the end of the one before (``keep="end"``)
    or the start of the one after (``keep="start"``), at most ``max_lines`` lines, cut in logical
    order at a line break with an ellipsis where it is cut."""

    DEFAULT_CSS = """
    ContextText { color: $text-muted 70%; text-style: italic; }
    """

    def __init__(self, keep: str, max_lines: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.keep = keep
        self.max_lines = max_lines
        self.full = ""

    def show(self, text: str, spans: tuple[SpanLabel, ...] = (), selection: tuple[int, int] | None = None) -> None:
        self.full = visible_text(text.replace("\n", " "))
        self.display = bool(self.full)
        super().show(text, spans, selection)

    def wrap(self, width: int) -> list[tuple[int, int]]:
        self.text = self._shown(width)
        return wrap_cells(self.text, width)[:self.max_lines]

    def _shown(self, width: int) -> str:
        """The part of the segment that fits in ``max_lines`` lines, cut where a line breaks."""
        lines = wrap_cells(self.full, width - 1)  # a cell for the ellipsis
        if len(lines) <= self.max_lines:
            return self.full
        if self.keep == "end":
            return "…" + self.full[lines[-self.max_lines][0]:]
        return self.full[:lines[self.max_lines - 1][1]].rstrip() + "…"


def frame_checklist(view: SegmentView, scheme: Scheme, accent: Style,
                    keys: Mapping[str, str] | None = None, width: int = 0) -> Text:
    """The frame labels as a checklist: key, box, name, the model's score against the label's
    threshold (◇ where it reaches it: the model ticks that frame), or why there is no score,
    and who else chose the frame (◆). ``keys``: binding id (``frame.<label id>``) → the key
    shown, where a keymap moved it (else the scheme's key). ``width``: the cells a row may
    take (0: any); the names' column narrows (long names cut with …) so that rows fit."""
    keys = keys or {}
    text = Text(end="")
    if view.scores_note:
        text.append(f"{visible_text(view.scores_note)}\n", "dim italic")
    else:
        text.append("score / threshold · ◇ ticked by the model\n", "dim")
    if view.margin is not None:
        text.append("best frame ahead of the next by ", "dim")
        text.append(f"{view.margin:.2f}\n", "bold")
    shown = {lab.id: visible_text(keys.get(f"frame.{lab.id}", lab.key)) or " " for lab in scheme.frames}
    key_width = max((cell_len(k) for k in shown.values()), default=1)
    tails = [_checklist_tail(row, accent) for row in view.frames]
    name_width = max((cell_len(visible_text(lab.name)) for lab in scheme.frames), default=10)
    if width:
        room = width - key_width - 5 - max((t.cell_len for t in tails), default=0)  # "k [x] name"
        name_width = max(min(name_width, room), 8)
    for row, tail in zip(view.frames, tails):
        line_style = accent if row.checked else Style()
        text.append(f"{shown.get(row.label.id, ' '):<{key_width}} ", "dim")
        text.append("[x]" if row.checked else "[ ]", line_style)
        name = truncate_cells(visible_text(row.label.name), name_width, "…")
        text.append(" " + name + " " * (name_width - cell_len(name)), line_style)
        text.append_text(tail)
        text.append("\n")
    for note in dict.fromkeys(row.note for row in view.frames if row.note and row.score is None):
        text.append(f"– {note}: {NO_SCORE_REASONS.get(note, note)}\n", "dim italic")
    text.rstrip()
    return text


def _checklist_tail(row: FrameRow, accent: Style) -> Text:
    """What follows a frame's name: score / threshold and ◇, or why there is no score; ◆ and
    the other annotators who chose it."""
    tail = Text(end="")
    if row.score is not None:
        tail.append(f" {score_text(row.score)}", "bold" if row.suggested else "dim")
        if row.threshold is not None:
            tail.append(f" / {score_text(row.threshold)}", "dim")
        if row.suggested:
            tail.append(" ◇", accent)
    elif row.note:
        tail.append(f" – {row.note}", "dim italic")
    if row.chosen_by:
        tail.append(f" {STATUS_ICONS[OTHERS]} ", "bold")
        tail.append(truncate_cells(visible_text(", ".join(row.chosen_by)), 16, "…"), "bold")
    return tail


class FrameChecklist(Widget):
    """The frame checklist (:func:`frame_checklist`), laid out for the width it has when drawn;
    ``draw`` is what draws it (the speech view's checklist draws the speech's)."""

    DEFAULT_CSS = "FrameChecklist { height: auto; }"
    draw = staticmethod(frame_checklist)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.args: tuple | None = None

    def show(self, view: Any, scheme: Scheme, accent: Style, keys: Mapping[str, str] | None = None) -> None:
        self.args = (view, scheme, accent, keys)
        self.refresh(layout=True)

    def clear(self) -> None:
        self.args = None
        self.refresh(layout=True)

    def render(self) -> Text:
        if self.args is None:
            return Text()
        return self.draw(*self.args, width=self.content_size.width or self.size.width)


def others_text(view: SegmentView, scheme: Scheme) -> Text:
    """The other annotators' decisions on the segment (a colleague's, the seed labels, marked
    "(prior)"): who, which status, which frames and spans. Empty when nobody else decided it."""
    text = Text(end="")
    if not view.others:
        return text
    text.append(f"{STATUS_ICONS[OTHERS]} Labelled by others\n", "bold")
    for vote in view.others:
        text.append(f"{STATUS_ICONS.get(vote.status, '?')} ")
        text.append(visible_text(vote.annotator), "bold")
        if vote.prior:
            text.append(" (prior)", "dim")
        text.append(f" {vote.status}: ", "dim")
        if vote.status == "rejected":
            text.append("nothing to label", "dim")
        else:
            text.append(visible_text(", ".join(scheme.display_name(f) for f in vote.frames)) or "no frame")
            for covered in vote.span_texts:
                text.append(" · «" + display_line(visible_text(covered)) + "»")
        text.append("\n")
    text.rstrip()
    return text


def meta_line(view: SegmentView, width: int = 0) -> Text:
    """Status, where the segment is, its language and its speech; the speech's title is cut to
    what ``width`` leaves (in logical order, then reordered: a Hebrew title shows its start)."""
    sp, seg = view.speech, view.segment
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    status = view.status
    if status == OTHERS and view.others:
        more = len(view.others) - 1
        status = f"labelled by {truncate_cells(visible_text(view.others[0].annotator), 16, '…')}"
        status += f" +{more}" if more else ""
    text.append(f"{STATUS_ICONS.get(view.status, '?')} {visible_text(status)}", "bold")
    if view.pending:
        text.append(f" {STATUS_ICONS['pending']} not saved yet", "bold reverse")
    where = f"{view.index + 1}/{view.total}" if view.index >= 0 else "not in list"
    text.append(f"  ·  #{seg.id} ({where})  ·  {visible_text(seg.language) or '??'}", "dim")
    title = visible_text(" — ".join(x for x in (sp.title, sp.speaker, sp.date) if x) or f"speech {sp.id}")
    tail = f"  ¶{seg.position}"
    room = width - text.cell_len - 5 - len(tail) if width else cell_len(title)
    if room >= 6:  # else no title: the status and the position matter more
        text.append("  ·  ", "dim")
        text.append(display_line(truncate_cells(title, room, "…")))
    text.append(tail, "dim")
    return text


def translation_text(view: SegmentView) -> Text:
    text = Text(end="")
    tr = view.translation
    if tr is None and view.segment.language == "en":
        text.append("(the original is English)", "dim italic")
        return text
    if tr is None:
        text.append(view.translation_note or "no translation yet", "dim italic")
        return text
    text.append(display_line(visible_text(tr.text)))
    provenance = tr.provenance + (f": {tr.model}" if tr.model else "")
    text.append(f"\n({visible_text(provenance)}{alignment_note(tr)})", "dim")
    return text


def alignment_note(tr: Translation) -> str:
    """How a corpus translation was matched to the segment: " · aligned 2-1, score 0.57"."""
    if tr.alignment == "position":
        return " · aligned by position, no score"
    if tr.alignment:
        merged = {"2-1": " (with the neighbouring segment)", "1-2": " (two sentences)"}.get(tr.alignment, "")
        score = f", score {tr.score:.2f}" if tr.score is not None else ""
        return f" · aligned {visible_text(tr.alignment)}{merged}{score}"
    return ""


def glossary_text(view: SegmentView) -> Text:
    """The glossary's formulations in the segment: "网络强国 → cyberpower"; in English text,
    "cyber great power ← 网络强国 (official: cyberpower)"."""
    text = Text(end="")
    for hit in view.glossary:
        text.append(display_line(visible_text(hit.source_text)), "bold")
        if hit.formulation:
            text.append(" ← ")
            text.append(display_line(visible_text(hit.formulation)), "bold")
            if hit.rendering.casefold() != hit.source_text.casefold():
                text.append(" (official: ", "dim")
                text.append(display_line(visible_text(hit.rendering)), "dim")
                text.append(")", "dim")
        else:
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
    text.append("Scores and thresholds\n", "bold")
    text.append(
        "Beside each frame: the model's score / the label's threshold, tuned for each label on the "
        "dev labels when the model was trained, both to three decimals. Where the score reaches the "
        "threshold, as shown (0.500 / 0.500 too), the model ticks the frame (◇): a accepts those. A label without a score says why: no frames model active, "
        "not scored yet (suggestions are computed in the background), the model was trained before "
        "the label existed, or an older run kept only the 5 best scores.\n\n")
    text.append("Others' labels and the speech\n", "bold")
    text.append(
        f"{STATUS_ICONS[OTHERS]} someone else decided the segment (a colleague, or the seed labels): who and "
        "what is listed above the frames, and ◆ marks their frames. Your own labels start from the suggestions. "
        "Seed labels are a prior, marked (prior): your decision replaces them in the gold, never ties with them.\n"
        "The dimmed lines above and below the segment are the segments before and after it in the "
        "speech; v reads the whole speech.\n\n")
    text.append(
        "a accept · x reject · space skip · backspace undo · U redo\n"
        "Toggling a frame or editing a span is saved at once (status corrected); "
        "a saves the labels as they stand (accepted if unchanged).\n"
        "Span mode: ←/→ move, shift+←/→ extend, enter add or resize, delete remove, escape leave. "
        "Or drag over the text with the mouse: the words it touches (characters in Chinese and "
        "Japanese) become a span at once.\n"
        "v the whole speech: its text, its suggested frames and its own (the frame keys, a, x, undo there too; "
        "escape returns).\n"
        "G the glossary of official formulations: / searches, + adds the span you are marking (also in span mode) "
        "with its official rendering; escape returns.\n"
        "d adjudication mode (disagreements only; c takes one annotator's decision) · "
        "ctrl+t retrain the frames and slogan models now (they also retrain every few decisions) · "
        "ctrl+p all commands.\n"
        "Escape closes this guide, and any window (search, filters, go to, the speech view, the glossary).\n"
        "Ctrl+q quits (q toggles a frame).", "dim")
    return text


def header_text(session: Session) -> Text:
    """The top bar: who, which mode or queue, and the filters in force (names, search terms and
    the scheme's name are data: shown as they are, never as markup)."""
    flt = session.filter
    parts = [f"{k}={v}" for k, v in (("search", flt.query), ("language", flt.language),
                                     ("speech", flt.speech_id), ("status", flt.status),
                                     ("frame", session.scheme.display_name(flt.label) if flt.label else "")
                                     ) if v not in ("", None)]
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
        if vote.prior:
            who.append(" (prior)", "dim")
        frames = Text(end="")
        for frame in vote.frames:
            frames.append(visible_text(scheme.display_name(frame)), Style() if frame in shared else accent)
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


class MetaLine(Widget):
    """The segment's status line (:func:`meta_line`), drawn for the width it has when drawn, so
    that the speech's title is cut in logical order however the pane's width changes (a
    scrollbar appearing, the guide opening); or a message when no segment is in view."""

    DEFAULT_CSS = "MetaLine { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: SegmentView | None = None
        self.suffix = Text()
        self.message = Text()

    def show(self, view: SegmentView, suffix: Text | None = None) -> None:
        self.view, self.suffix = view, suffix or Text()
        self.refresh()

    def say(self, message: str) -> None:
        self.view, self.message = None, Text(message)
        self.refresh()

    def render(self) -> Text:
        if self.view is None:
            return self.message
        line = meta_line(self.view, max(self.content_size.width - self.suffix.cell_len, 1))
        line.append_text(self.suffix)
        return line


class TopBar(Static):
    DEFAULT_CSS = "TopBar { height: 1; width: 1fr; color: $text-muted; }"

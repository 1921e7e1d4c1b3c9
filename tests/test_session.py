"""The annotation session (the UI's service layer), without Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest
from bidi import get_display

from _ui_fixtures import build_project
from annotator.schemes import get_scheme
from annotator.services.session import Session
from annotator.text import display_line, visible_text, visual_order, word_units
from annotator.store import SegmentFilter, SpanLabel, Store


@pytest.fixture
def session(tmp_path):
    store = build_project(tmp_path / "p.db")
    yield Session(store, "ann", get_scheme("framing"))
    store.close()


def test_accept_unchanged_suggestions_is_accepted(session):
    sid = session.ids[0]
    session.accept(sid)
    ann = session.store.annotation(sid, "ann")
    assert ann.state.status == "accepted"
    assert set(ann.state.frames) == {"Economic", "Quality_of_life"}
    assert ann.state.spans == (SpanLabel(8, 32, "Slogan"),)
    assert session.progress.done == 1


def test_toggle_saves_corrected_and_accept_keeps_corrected(session):
    sid = session.ids[0]
    session.toggle_frame(sid, "Economic")
    assert session.store.annotation(sid, "ann").state == session.working_state(sid)
    assert session.store.annotation(sid, "ann").state.status == "corrected"
    assert session.store.annotation(sid, "ann").state.frames == ("Quality_of_life",)
    session.accept(sid)
    assert session.store.annotation(sid, "ann").state.status == "corrected"
    session.toggle_frame(sid, "Economic")  # back to the suggestions
    session.accept(sid)
    assert session.store.annotation(sid, "ann").state.status == "accepted"


def test_reject_skip_and_undo_redo(session):
    a, b = session.ids[:2]
    session.reject(a)
    session.skip(b)
    assert session.status(a) == "rejected" and session.status(b) == "skipped"
    assert session.undo() == b
    assert session.store.annotation(b, "ann") is None
    assert session.progress.done == 1
    assert session.redo() == b
    assert session.status(b) == "skipped"
    # A rejected segment shows the suggestions again as its working labels.
    assert "Economic" in session.working_state(a).frames


def test_spans_are_code_points_with_emoji_and_combining_marks(session):
    sid = session.ids[-1]
    text = session.store.segment(sid).text
    assert text == "Cafe\u0301 👩\u200d🔬 and more."
    units = word_units(text)
    assert [text[s:e] for s, e in units] == ["Cafe\u0301", "👩\u200d🔬", "and", "more", "."]
    start, end = units[2]
    session.set_span(sid, start, end)
    (span,) = session.store.annotation(sid, "ann").state.spans
    assert text[span.start:span.end] == "and" and (span.start, span.end) == (10, 13)
    # Resizing: a span over the overlap replaces it.
    session.set_span(sid, units[2][0], units[3][1])
    assert [text[s.start:s.end] for s in session.working_state(sid).spans] == ["and more"]
    assert session.remove_span_at(sid, 10) is not None
    assert session.working_state(sid).spans == ()
    with pytest.raises(ValueError):
        session.set_span(sid, 0, len(text) + 1)


def test_chinese_units_are_characters(session):
    text = "我们要建设网络强国，推动"
    units = word_units(text)
    assert [text[s:e] for s, e in units][:5] == ["我", "们", "要", "建", "设"]
    assert len(units) == len(text)


def test_visible_text_keeps_length_and_shows_controls():
    raw = "a\x1b[31mb\x07\x9b[bold]x[/]"
    shown = visible_text(raw)
    assert len(shown) == len(raw)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "␛[31m" in shown and "[bold]x[/]" in shown


@pytest.mark.parametrize("line", ["אנחנו נבנה כלכלה חזקה לכולם.", "نحن نبني اقتصادا قويا 123", "plain ascii"])
def test_visual_order_is_a_permutation_matching_python_bidi(line):
    order = visual_order(line)
    assert sorted(i for i, _ in order) == list(range(len(line)))
    assert "".join(ch for _, ch in order) == get_display(line) == display_line(line)


def test_visual_order_mirrors_brackets_in_rtl():
    shown = "".join(ch for _, ch in visual_order("נבנה (לכולם)"))
    assert shown.startswith("(") and shown.endswith("הנבנ")


def test_filters_search_and_next_unannotated(session):
    assert len(session.ids) == 9
    zh = session.apply_filter(SegmentFilter(language="zh"))
    assert [session.store.segment(i).language for i in zh] == ["zh", "zh"]
    session.apply_filter(SegmentFilter(query="网络强国"))
    assert session.ids == [zh[0]]
    session.apply_filter(SegmentFilter(query="cyberpower"))  # in the translation
    assert session.ids == [zh[0]]
    session.apply_filter(SegmentFilter())
    session.accept(session.ids[1])
    assert session.next_unannotated(0) == 2
    session.apply_filter(SegmentFilter(status="untouched"))
    assert session.ids[1] != session.store.segment_ids()[1] and len(session.ids) == 8


def test_rows_show_statuses(session):
    rows = session.rows(0, 4)
    assert [r.status for r in rows] == ["suggested", "untouched", "untouched", "suggested"]
    session.reject(session.ids[0])
    assert session.rows(0, 1)[0].status == "rejected"


def test_view_has_scores_margin_glossary_and_translation(session):
    view = session.view(session.ids[3])
    assert [g.rendering for g in view.glossary] == ["cyberpower"]
    assert view.glossary[0].source_text == "网络强国"
    assert view.translation.provenance == "model"
    assert view.margin == pytest.approx(0.05)
    political = next(r for r in view.frames if r.label.id == "Political")
    assert political.checked and political.suggested and political.score == pytest.approx(0.7)


def test_decisions_survive_reopening(tmp_path):
    path = tmp_path / "p.db"
    store = build_project(path)
    s = Session(store, "ann", get_scheme("framing"))
    s.toggle_frame(s.ids[2], "Security_and_defense")
    # Another connection sees it at once: it was committed, not pending.
    other = Store.open(path)
    assert other.annotation(s.ids[2], "ann").state.frames == ("Security_and_defense",)
    other.close()
    store.close()


def test_session_and_store_do_not_import_textual():
    code = "import sys, annotator.services.session; assert not any(m.startswith('textual') for m in sys.modules), 'textual'"
    subprocess.run([sys.executable, "-c", code], check=True)

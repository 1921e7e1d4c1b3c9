"""The annotation screen explains itself (issue 14): the current row stays in view, each frame's
score stands beside its threshold, other people's decisions show, the speech around the
segment shows, escape closes every overlay, right-to-left rows show their start, search finds
every word in any order, and a mouse drag over the text adds a span."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events
from textual.geometry import Offset
from textual.selection import Selection

from _ui_fixtures import (  # noqa: F401 (ui_db: the db fixture)
    FRAMES_VERSION, build_project, saved, speech_record, ui_db)
from annotator.schemes import get_scheme
from annotator.services.session import NEW_LABEL, NOT_KEPT, OTHERS, STATUS_ICONS, Session
from annotator.store import AnnotationState, SpanLabel, Store
from annotator.ui.app import AnnotateScreen, make_app
from annotator.ui.widgets import SCROLL_MARGIN, SegmentList

HEBREW = ("ראשית אני רוצה להודות לכל חברי הכנסת שהשתתפו בדיון החשוב הזה "
          "על עתיד המדינה והכלכלה שלנו.")


def screen_of(app) -> AnnotateScreen:
    screen = app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


def long_project(path: Path, n: int = 120) -> list[int]:
    """One English speech of ``n`` numbered sentences, then a long Hebrew one."""
    store = Store.open(path)
    sentences = [f"Sentence number {i} of the long debate." for i in range(n)]
    store.add_speech(*speech_record("en", "Long debate", sentences))
    store.add_speech(*speech_record("he", "נאום ארוך", [HEBREW]))
    ids = store.segment_ids()
    store.close()
    return ids


def row_in_view(lst: SegmentList) -> tuple[int, int, int]:
    """(rows above the cursor, rows below it) among the rows the list shows, and how many it shows."""
    top, shown = lst.scroll_offset.y, lst.rows_shown
    return lst.cursor - top, top + shown - 1 - lst.cursor, shown


# ------------------------------------------------------------------- the list scrolls with a margin
async def test_j_and_g_keep_the_current_row_in_view_with_a_margin(tmp_path):
    path = tmp_path / "long.db"
    ids = long_project(path)
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=(80, 24)) as pilot:
        lst = screen_of(app).segment_list
        assert not lst.show_horizontal_scrollbar  # no scrollbar over the last row
        assert lst.rows_shown == lst.size.height
        for _ in range(40):
            await pilot.press("j")
            above, below, shown = row_in_view(lst)
            assert above >= min(lst.cursor, SCROLL_MARGIN) and below >= SCROLL_MARGIN, (lst.cursor, above, below)
        for target in (ids[100], ids[3], ids[60]):
            await pilot.press("g", *str(target), "enter")
            await pilot.pause()
            assert screen_of(app).current_id == target
            above, below, _ = row_in_view(lst)
            assert above >= min(lst.cursor, SCROLL_MARGIN) and below >= SCROLL_MARGIN, (target, above, below)
        for _ in range(10):
            await pilot.press("k")
            above, below, _ = row_in_view(lst)
            assert above >= SCROLL_MARGIN and below >= SCROLL_MARGIN
        await pilot.press("g", *str(ids[-1]), "enter")  # the last row: no margin below it to keep
        await pilot.pause()
        above, below, _ = row_in_view(lst)
        assert below == 0 and above > 0


async def test_a_right_to_left_row_shows_the_start_of_its_sentence_beside_the_scrollbar(tmp_path):
    """Cut in logical order, then reordered, and cut to the width beside the scrollbar: the
    first word of the Hebrew sentence is on screen (it was under the scrollbar)."""
    path = tmp_path / "long.db"
    ids = long_project(path)
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("g", *str(ids[-1]), "enter")
        await pilot.pause()
        lst = screen_of(app).segment_list
        assert lst.show_vertical_scrollbar
        strip = lst.render_line(lst.cursor - lst.scroll_offset.y)
        assert strip.cell_length <= lst.scrollable_content_region.width
        shown = strip.text
        assert "he" in shown and "ראשית"[::-1] in shown  # the first word, drawn right to left
        assert "שלנו"[::-1] not in shown  # not the end of the sentence


def test_a_right_to_left_title_is_cut_in_logical_order(tmp_path):
    from annotator.ui.widgets import meta_line

    store = Store.in_memory()
    store.add_speech(*speech_record("he", HEBREW, ["שלום לכולם."]))
    session = Session(store, "ann", get_scheme("framing"))
    line = meta_line(session.view(session.ids[0]), width=60).plain
    assert len(line) <= 60 and "ראשית"[::-1] in line and "שלנו"[::-1] not in line


# --------------------------------------------------------------------- scores and thresholds
def test_each_frame_has_its_threshold_or_says_why_it_has_no_score(tmp_path):
    store = build_project(tmp_path / "p.db")
    session = Session(store, "ann", get_scheme("framing"))
    first_en, first_zh = session.ids[0], session.ids[3]
    rows = {row.label.id: row for row in session.view(first_en).frames}
    # the model ticks a frame whose score reaches its threshold, and no other
    assert (rows["Economic"].score, rows["Economic"].threshold, rows["Economic"].suggested) == (0.91, 0.5, True)
    assert (rows["Quality_of_life"].score, rows["Quality_of_life"].threshold, rows["Quality_of_life"].suggested) \
        == (0.62, 0.6, True)
    assert (rows["Policy_prescription_and_evaluation"].score, rows["Policy_prescription_and_evaluation"].threshold,
            rows["Policy_prescription_and_evaluation"].suggested) == (0.24, 0.3, False)
    assert (rows["Security_and_defense"].score, rows["Security_and_defense"].threshold) == (0.31, 0.35)
    assert rows["Morality"].score == 0.01 and rows["Morality"].threshold == 0.5  # every label's score is kept
    # a label added to the scheme after the model was trained
    assert rows["External_regulation_and_reputation"].score is None
    assert rows["External_regulation_and_reputation"].note == NEW_LABEL
    # a run of old kept the top scores only, with its own thresholds
    zh = {row.label.id: row for row in session.view(first_zh).frames}
    assert (zh["Economic"].score, zh["Economic"].threshold, zh["Economic"].suggested) == (0.65, 0.7, False)
    assert zh["Morality"].score is None and zh["Morality"].note == NOT_KEPT
    # not scored yet, and no model at all
    view = session.view(session.ids[1])
    assert "not scored by " + FRAMES_VERSION in view.scores_note and all(r.score is None for r in view.frames)
    store.db.execute("DELETE FROM active_models WHERE kind = 'frames'")
    assert "no frames model is active" in session.view(first_en).scores_note


async def test_the_checklist_shows_score_and_threshold_and_the_guide_explains_them(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 40)) as pilot:
        checklist = str(screen_of(app).query_one("#frames").render())
        assert "0.910 / 0.500 ◇" in checklist and "0.240 / 0.300" in checklist and "0.240 / 0.300 ◇" not in checklist
        assert "– new label" in checklist and "the model was trained before this label existed" in checklist
        await pilot.press("question_mark")
        guide = str(screen_of(app).query_one("#guidelines Static").render())
        assert "threshold" in guide and "trained before the label existed" in guide


# ------------------------------------------------------------------------ others' decisions
def test_a_segment_others_decided_says_who_and_what(tmp_path):
    store = build_project(tmp_path / "p.db")
    first = store.segment_ids()[0]
    store.decide(first, "seed", AnnotationState(("Security_and_defense",), (SpanLabel(8, 13, "Slogan"),), "corrected"))
    store.decide(first, "bob", AnnotationState((), (), "skipped"))  # a skip is no decision
    session = Session(store, "ann", get_scheme("framing"))
    assert session.rows(0, 2)[0].status == OTHERS and session.rows(0, 2)[1].status == "untouched"
    view = session.view(first)
    assert view.status == OTHERS
    assert [(v.annotator, v.frames, v.span_texts) for v in view.others] == \
        [("seed", ("Security_and_defense",), ("build",))]
    rows = {row.label.id: row for row in view.frames}
    assert rows["Security_and_defense"].chosen_by == ("seed",) and rows["Economic"].chosen_by == ()
    assert set(session.working_state(first).frames) == {"Economic", "Quality_of_life"}  # yours start from the model's
    session.accept(first)
    session.forget()
    assert session.rows(0, 1)[0].status == "accepted"  # once decided, your own status


async def test_the_screen_shows_others_labels_beside_the_suggestions(db):
    store = Store.open(db)
    first = store.segment_ids()[0]
    store.decide(first, "seed", AnnotationState(("Security_and_defense",), (), "accepted"))
    store.close()
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 40)):
        screen = screen_of(app)
        others = str(screen.query_one("#others").render())
        assert "seed" in others and "Security and defense" in others
        assert "◆ seed" in str(screen.query_one("#frames").render())
        assert "labelled by seed" in str(screen.query_one("#meta").render())
        assert screen.segment_list.render_line(0).text.startswith(STATUS_ICONS[OTHERS])


# ------------------------------------------------------------------------ context lines
async def test_the_segments_before_and_after_show_dimmed_and_the_speech_is_one_key_away(tmp_path):
    path = tmp_path / "long.db"
    long_project(path, n=5)
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = screen_of(app)
        before, after = screen.query_one("#before"), screen.query_one("#after")
        assert not before.display and "Sentence number 1 " in after.text  # the first has nothing before it
        await pilot.press("j", "j")
        assert "Sentence number 1 " in before.text and "Sentence number 3 " in after.text
        assert "Sentence number 2 " in screen.spans.text
        assert "v" in [key for key, b in screen.active_bindings.items() if b.binding.description == "Whole speech"]
        await pilot.press("v")
        assert type(app.screen).__name__ == "SpeechScreen"


def test_a_long_neighbour_is_cut_to_two_lines_where_a_line_breaks():
    from annotator.ui.widgets import ContextText

    before, after = ContextText(keep="end"), ContextText(keep="start")
    text = " ".join(f"word{i}" for i in range(40))
    for widget in (before, after):
        widget.show(text)
    end = "\n".join(before.text[a:b] for a, b in before.wrap(30))
    start = "\n".join(after.text[a:b] for a, b in after.wrap(30))
    assert end.startswith("…") and end.endswith("word39") and end.count("\n") == 1
    assert start.startswith("word0 ") and start.endswith("…") and start.count("\n") == 1


# ------------------------------------------------------------------------------- escape
@pytest.mark.parametrize("key", ["slash", "f", "g", "v", "ctrl+p"])
async def test_escape_closes_every_overlay(db, key):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, AnnotateScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, AnnotateScreen)


async def test_escape_closes_the_guide_then_leaves_span_mode(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = screen_of(app)
        guide = screen.query_one("#guidelines")
        await pilot.press("question_mark")
        assert guide.display
        await pilot.press("escape")
        assert not guide.display
        await pilot.press("s", "question_mark")
        assert guide.display and screen.span_mode
        await pilot.press("escape")
        assert not guide.display and screen.span_mode  # the guide first
        await pilot.press("escape")
        assert not screen.span_mode


# ------------------------------------------------------------------------------- search
async def test_search_finds_every_word_in_any_order(tmp_path):
    path = tmp_path / "fr.db"
    store = Store.open(path)
    store.add_speech(*speech_record("fr", "Séance", ["Nous ouvrons les débats.", "La séance est levée."]))
    store.close()
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("slash", *"lev seance", "enter")  # "lev" is a word here, not a prefix: nothing
        await pilot.pause()
        assert screen_of(app).session.ids == []
        await pilot.press("slash", *(["backspace"] * 10), *"seance lev", "enter")
        await pilot.pause()
        screen = screen_of(app)
        assert [screen.session.store.segment(i).text for i in screen.session.ids] == ["La séance est levée."]


# ---------------------------------------------------------------------- mouse selection
async def test_dragging_over_words_adds_a_span_snapped_to_them(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = screen_of(app)
        first = screen.current_id
        text = screen.spans.text
        assert text.startswith("We will build")
        left = screen.spans.content_region.x - screen.spans.region.x
        # from inside "will" to inside "stronger"
        await pilot.mouse_down("#original", offset=(left + text.index("will") + 2, 0))
        await pilot.hover("#original", offset=(left + text.index("stronger") + 3, 0))
        await pilot.mouse_up("#original", offset=(left + text.index("stronger") + 3, 0))
        await pilot.pause()
        state = saved(db, first).state
        assert [text[s.start:s.end] for s in state.spans] == ["will build a stronger"]
        assert state.spans[0].label == "Slogan" and state.status == "corrected"
        assert not app.screen.selections  # the selection became the span
        # a click without a drag adds nothing
        await pilot.click("#original", offset=(left + 1, 0))
        await pilot.pause()
        assert saved(db, first).state.spans == state.spans


async def test_a_selection_maps_to_logical_offsets_in_every_script(db):
    """Textual's selection offsets are characters of the lines as drawn: mapped back through
    the bidi order (Hebrew), snapped to words outside Chinese, to characters in Chinese."""
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = screen_of(app)
        session = screen.session

        async def select(segment_id: int, start: int, end: int) -> list[str]:
            screen.show_segment(segment_id)
            await pilot.pause()
            screen.selections = {screen.spans: Selection(Offset(start, 0), Offset(end, 0))}
            screen.post_message(events.TextSelected())
            await pilot.pause()
            text = session.store.segment(segment_id).text
            return [text[s.start:s.end] for s in saved(db, segment_id).state.spans]

        ids = session.ids
        zh, he = ids[3], ids[6]
        assert await select(zh, 5, 7) == ["网络"]  # characters, as drawn
        he_text = session.store.segment(he).text  # "אנחנו נבנה כלכלה חזקה (לכולם)."
        # drawn right to left: the leftmost cells hold the end of the sentence; "(לכולם)." drawn
        # as ".(םלוכל)": cells 2..4 are inside the last word, which the span snaps to
        assert await select(he, 2, 4) == ["לכולם"]
        assert he_text.endswith("(לכולם).")

"""The annotation app driven with ``App.run_test`` and ``Pilot``: every key writes the database."""

from __future__ import annotations

from textual.widgets import Select

from _ui_fixtures import build_project, saved, ui_db  # noqa: F401 (ui_db: the db fixture)
from annotator.store import SpanLabel
from annotator.ui.app import AnnotateScreen, make_app
from annotator.ui.widgets import SegmentList, SegmentText

SIZE = (100, 30)


def screen_of(app) -> AnnotateScreen:
    assert isinstance(app.screen, AnnotateScreen)
    return app.screen


async def test_accept_key_writes_accepted_row_and_advances(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        first = screen_of(app).current_id
        await pilot.press("a")
        ann = saved(db, first)
        assert ann is not None and ann.state.status == "accepted"
        assert set(ann.state.frames) == {"Economic", "Quality_of_life"}
        assert ann.state.spans == (SpanLabel(8, 32, "Slogan"),)
        assert screen_of(app).current_id == app.session.ids[1]


async def test_reject_skip_and_toggle_label(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        ids = app.session.ids
        await pilot.press("1")  # toggles Economic off (it was suggested)
        assert saved(db, ids[0]).state.frames == ("Quality_of_life",)
        assert saved(db, ids[0]).state.status == "corrected"
        await pilot.press("8")  # Security_and_defense on
        assert saved(db, ids[0]).state.frames == ("Security_and_defense", "Quality_of_life")
        await pilot.press("x")
        assert saved(db, ids[0]).state.status == "rejected"
        await pilot.press("space")
        assert saved(db, ids[1]).state.status == "skipped"
        assert screen_of(app).current_id == ids[2]


async def test_undo_and_redo_keys(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        first = app.session.ids[0]
        await pilot.press("a")
        await pilot.press("backspace")
        assert saved(db, first) is None
        assert screen_of(app).current_id == first  # undo shows the segment it changed
        await pilot.press("U")
        assert saved(db, first).state.status == "accepted"
        await pilot.press("u")
        assert saved(db, first) is None


async def test_span_mode_adds_resizes_and_deletes_a_span(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        sid = app.session.ids[-1]  # "Cafe\u0301 👩\u200d🔬 and more."
        screen_of(app).show_segment(sid)
        await pilot.press("s", "right", "right", "enter")
        assert saved(db, sid).state.spans == (SpanLabel(10, 13, "Slogan"),)  # "and"
        await pilot.press("shift+right", "enter")  # resize to "and more"
        assert saved(db, sid).state.spans == (SpanLabel(10, 18, "Slogan"),)
        await pilot.press("a")  # disabled in span mode: nothing changes
        assert saved(db, sid).state.status == "corrected"
        await pilot.press("delete")
        assert saved(db, sid).state.spans == ()
        await pilot.press("escape")
        assert not screen_of(app).span_mode


async def test_chinese_span_moves_by_character(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        sid = app.session.ids[4]  # 坚持以人民为中心的发展思想。
        screen_of(app).show_segment(sid)
        await pilot.press("s", "right", "right", "shift+right", "shift+right", "enter")
        (span,) = saved(db, sid).state.spans
        assert app.session.store.segment(sid).text[span.start:span.end] == "以人民"


async def test_search_and_navigation(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        await pilot.press(*"网络强国", "enter")
        assert len(app.session.ids) == 1
        assert app.session.store.segment(screen_of(app).current_id).text.startswith("我们要建设网络强国")
        await pilot.press("slash", "ctrl+u", "enter")  # empty search: everything again
        assert len(app.session.ids) == 9
        await pilot.press("j", "j", "k")
        assert screen_of(app).current_id == app.session.ids[1]
        await pilot.press("a", "n")  # next unannotated from index 2 is index 2 itself
        assert screen_of(app).current_id == app.session.ids[3]
        await pilot.press("g", *"7", "enter")
        assert screen_of(app).current_id == 7


async def test_filters_screen(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f")
        app.screen.query_one("#language", Select).value = "el"
        await pilot.click("#apply")
        await pilot.pause()
        assert [app.session.store.segment(i).language for i in app.session.ids] == ["el", "el"]
        await pilot.press("f")
        app.screen.query_one("#status", Select).value = "untouched"
        await pilot.click("#apply")
        await pilot.pause()
        assert len(app.session.ids) == 2  # language kept, nothing decided yet
        await pilot.press("f")
        await pilot.click("#clear")
        await pilot.pause()
        assert len(app.session.ids) == 9


async def test_corpus_markup_and_escapes_are_shown_literally(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("j")
        shown = "\n".join(line.plain for line in app.screen.query_one(SegmentText).lines(150))
        assert "[bold]x[/]" in shown and "[link=http://x]click[/link]" in shown
        assert "␛[31mred␛[0m" in shown and "\x1b" not in shown
        meta = str(app.screen.query_one("#meta").render())
        assert "State of the [bold]Union[/]" in meta
        row = app.screen.query_one(SegmentList).render_line(1).text
        assert "[bold]x[" in row and "\x1b" not in row
        await pilot.press("j", "j")  # the Chinese translation contains [red]…[/red]
        assert "We will build [red]a cyberpower[/red]." in str(app.screen.query_one("#translation").render())


async def test_rtl_segment_is_reordered_for_display_only(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE):
        sid = app.session.ids[6]  # Hebrew
        screen_of(app).show_segment(sid)
        text = app.session.store.segment(sid).text
        shown = app.screen.query_one(SegmentText).lines(200)[0].plain
        assert shown != text and sorted(shown.replace("(", "").replace(")", "")) == sorted(
            text.replace("(", "").replace(")", ""))
        assert shown.startswith(".")  # the full stop ends the line, i.e. is drawn leftmost


async def test_quit_and_reopen_keeps_decisions(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "x", "3")
        await pilot.press("ctrl+q")
    again = make_app(db, "ann", "framing", suggest=False)
    async with again.run_test(size=SIZE):
        ids = again.session.ids
        assert [r.status for r in again.session.rows(0, 3)] == ["accepted", "rejected", "corrected"]
        assert again.session.progress.done == 3
        assert "Morality" in again.session.working_state(ids[2]).frames


async def test_background_suggestions_arrive_as_a_message(db, monkeypatch):
    import annotator.services.suggest
    from annotator.store import Suggestion

    calls = []

    def fake_suggest(store, ids, progress=None):
        calls.append(list(ids))
        for sid in ids:
            store.replace_suggestions(sid, "frames-test-v1", [Suggestion(sid, "", "frame", "Morality", 0.77)])
        return len(ids)

    monkeypatch.setattr(annotator.services.suggest, "suggest_segments", fake_suggest)
    app = make_app(db, "ann", "framing", suggest=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")  # segment 2 has no suggestions
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert calls and app.session.ids[1] in calls[0]
        assert "Morality" in app.session.working_state(app.session.ids[1]).frames
        frames_text = str(app.screen.query_one("#frames").render())
        assert "0.77" in frames_text


async def test_command_palette_offers_the_actions(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Accept", "Reject", "Skip", "Undo", "Search", "Filter", "Frame: Economic"} <= titles

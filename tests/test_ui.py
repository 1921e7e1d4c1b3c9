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
        shown = "\n".join(line.plain for line in app.screen.query_one("#original", SegmentText).lines(150))
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
        shown = app.screen.query_one("#original", SegmentText).lines(200)[0].plain
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


# ----------------------------------------------------------------- keymap and active keys
async def test_a_keymap_file_moves_accept_and_the_new_key_saves_the_decision(db, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\naccept = "enter"\n"span.commit" = "ctrl+s"\n', encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        first, second = app.session.ids[:2]
        await pilot.press("a")  # moved away: nothing happens
        assert saved(db, first) is None and screen_of(app).current_id == first
        await pilot.press("enter")
        ann = saved(db, first)
        assert ann is not None and ann.state.status == "accepted"
        assert screen_of(app).current_id == second
        assert app.screen.active_bindings["enter"].binding.id == "accept"
        await pilot.press("s", "right", "ctrl+s")  # span mode's commit is on ctrl+s now
        (span,) = saved(db, second).state.spans
        assert app.session.store.segment(second).text[span.start:span.end] == "with"
        await pilot.press("enter")  # accept is not a span-mode key: nothing happens
        assert saved(db, second).state.status == "corrected" and screen_of(app).current_id == second


def footer_keys(app) -> set[str]:
    """The descriptions of the keys the footer shows enabled (it redraws itself only when the
    screen's bindings are refreshed)."""
    return {key.description for key in app.screen.query("FooterKey") if not key.has_class("-disabled")}


def active_ids(app) -> set[str]:
    return {a.binding.id for a in app.screen.active_bindings.values() if a.enabled}


async def test_span_mode_and_adjudication_change_the_active_keys_by_themselves(db):
    from annotator.store import AnnotationState, Store

    store = Store.open(db)
    first = store.segment_ids()[0]
    store.decide(first, "anna", AnnotationState(("Economic",), (), "corrected"))
    store.decide(first, "ben", AnnotationState(("Morality",), (), "corrected"))
    store.close()
    app = make_app(db, "carla", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert {"Accept", "Spans"} <= footer_keys(app) and "Add/resize span" not in footer_keys(app)
        assert {"accept", "frame.Economic", "spans.Slogan"} <= active_ids(app)
        assert not active_ids(app) & {"span.commit", "adjudicate.choose"}
        await pilot.press("s")
        await pilot.pause()
        assert {"Add/resize span", "Done", "Undo"} <= footer_keys(app)
        assert not footer_keys(app) & {"Accept", "Spans", "Search"}
        assert {"span.commit", "span.leave", "undo"} <= active_ids(app)
        assert not active_ids(app) & {"accept", "frame.Economic", "adjudicate"}
        await pilot.press("escape")
        await pilot.pause()
        assert {"Accept", "Spans"} <= footer_keys(app) and "Add/resize span" not in footer_keys(app)
        await pilot.press("d")  # adjudication mode: c takes a decision
        await pilot.pause()
        assert app.session.ids == [first]
        assert "Take decision" in footer_keys(app) and "adjudicate.choose" in active_ids(app)
        await pilot.press("d")
        await pilot.pause()
        assert "Take decision" not in footer_keys(app) and "adjudicate.choose" not in active_ids(app)


async def test_with_no_segment_in_view_its_actions_are_shown_disabled(tmp_path):
    path = tmp_path / "p.db"
    build_project(path).close()
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"nothing matches this", "enter")
        await pilot.pause()
        assert app.session.ids == [] and screen_of(app).current_id is None
        assert not footer_keys(app) & {"Accept", "Reject", "Skip", "Spans"}
        assert {"Search", "Filter"} <= footer_keys(app)
        await pilot.press("slash", "ctrl+u", "enter")
        await pilot.pause()
        assert {"Accept", "Reject", "Skip", "Spans"} <= footer_keys(app)


def test_the_ui_uses_no_private_textual_attribute_and_no_manual_binding_refresh():
    import re
    from pathlib import Path

    import annotator.ui

    private = re.compile(r"\._(bindings|merged_bindings|notifications|keymap|nodes|options|check_action_state)\b"
                         r"|\b_character_to_key\b|\b_normalize_key_list\b|refresh_bindings\(")
    for path in Path(annotator.ui.__file__).parent.glob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not private.search(line), f"{path.name}:{number}: {line.strip()}"


async def test_a_label_key_a_keymap_moves_is_shown_where_the_label_is(db, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\naccept = "enter"\n"span.commit" = "ctrl+s"\n"frame.Economic" = "a"\n',
                      encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(160, 48)) as pilot:
        first = app.session.ids[0]
        checklist = str(app.screen.query_one("#frames").render())
        assert "a [x] Economic" in checklist and "2 [ ] Capacity and resources" in checklist
        await pilot.press("question_mark")
        assert "a  Economic" in str(app.screen.query_one("#guidelines").query_one("Static").render())
        await pilot.press("a")  # toggles Economic off (it was suggested)
        assert saved(db, first).state.frames == ("Quality_of_life",)
        assert "a [ ] Economic" in str(app.screen.query_one("#frames").render())

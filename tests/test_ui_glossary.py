"""The glossary view (``G``): list, search, add from the current span, saved at once; esc returns."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from _ui_fixtures import build_project, ui_db  # noqa: F401 (ui_db: the db fixture)
from annotator.store import GLOSSARY_VERSION, GlossaryEntry, Store
from annotator.ui.app import AnnotateScreen, make_app
from annotator.ui.glossary_view import EntryForm, GlossaryScreen

SIZE = (120, 36)
ZH = "我们要建设网络强国，推动高质量发展。"  # the fourth segment of the UI project


def entry(db, phrase: str, language: str = "zh") -> GlossaryEntry | None:
    store = Store.open(db)
    try:
        return store.glossary_entry(phrase, language)
    finally:
        store.close()


def glossary_spans(db, segment_id: int) -> dict[str, str]:
    store = Store.open(db)
    try:
        text = store.segment(segment_id).text
        return {text[s.start:s.end]: s.extra["rendering"] for s in store.suggestions(segment_id, [GLOSSARY_VERSION])}
    finally:
        store.close()


async def test_the_span_being_marked_is_added_with_its_rendering_and_found_at_once(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j", "j", "j")
        zh = app.screen.current_id
        assert app.session.store.segment(zh).text == ZH
        # span mode starts on the suggested 网络强国 (5–9); move to 高质量发展 (12–17) and select it
        await pilot.press("s", *["right"] * 7, *["shift+right"] * 4)
        await pilot.press("G")
        assert isinstance(app.screen, GlossaryScreen)
        assert "+ adds 高质量发展 (zh), the span you are marking" in str(app.screen.query_one("#glossary-meta").render())
        await pilot.press("plus")
        form = app.screen
        assert isinstance(form, EntryForm)
        assert (form.value("phrase"), form.value("language"), form.value("rendering")) == ("高质量发展", "zh", "")
        await pilot.press(*"high-quality development", "enter")
        await app.workers.wait_for_complete()  # the form saves in a worker
        await pilot.pause()
        saved = entry(db, "高质量发展")
        assert saved is not None and (saved.rendering, saved.source) == ("high-quality development", "added by ann")
        assert isinstance(app.screen, GlossaryScreen)
        assert app.screen.highlighted().source_text == "高质量发展"  # the new row, under the cursor
        assert glossary_spans(db, zh)["高质量发展"] == "high-quality development"  # matched at once
        await pilot.press("escape")
        assert isinstance(app.screen, AnnotateScreen)
        assert app.screen.span_mode  # back where the annotator was
        shown = str(app.screen.query_one("#glossary", Static).render())
        assert "高质量发展 → high-quality development" in shown


async def test_search_lists_the_entries_with_every_word_and_esc_closes(db):
    store = Store.open(db)
    store.add_glossary([GlossaryEntry("网络空间命运共同体", "zh", "a community with a shared future in cyberspace",
                                      "SCIO white paper", "SCIO 2022")])
    store.close()
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("G")
        table = app.screen.query_one(DataTable)
        assert table.row_count == 2
        await pilot.press("slash", *"future cyber")
        assert table.row_count == 1 and app.screen.highlighted().source_text == "网络空间命运共同体"
        assert "source: SCIO 2022" in str(app.screen.query_one("#glossary-detail").render())
        await pilot.press("enter")  # back to the list
        assert app.screen.focused is table
        await pilot.press("escape")
        assert isinstance(app.screen, AnnotateScreen)


async def test_outside_span_mode_the_first_span_is_offered(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("G", "plus")  # the first English segment: its suggested span "build a stronger economy"
        form = app.screen
        assert isinstance(form, EntryForm)
        assert (form.value("phrase"), form.value("language")) == ("build a stronger economy", "en")
        await pilot.press("escape")  # cancels the form: nothing saved
        assert isinstance(app.screen, GlossaryScreen)
        assert entry(db, "build a stronger economy", "en") is None
        await pilot.press("plus", "enter")  # no rendering yet: the form stays and says so
        assert isinstance(app.screen, EntryForm) and app.screen.focused.id == "entry-rendering"
        # a save that fails (not a language code) is said, and the form keeps what was typed
        form = app.screen
        form.query_one("#entry-language", Input).value = "xx"
        await pilot.press(*"a stronger economy", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is form and form.value("rendering") == "a stronger economy"
        assert any("not saved" in str(n.message) and "'xx'" in str(n.message) for n in app._notifications)
        assert entry(db, "build a stronger economy", "en") is None
        form.query_one("#entry-language", Input).value = "en"  # corrected: saved
        form.query_one("#entry-rendering", Input).focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, GlossaryScreen)
        assert entry(db, "build a stronger economy", "en").rendering == "a stronger economy"


async def test_a_keymap_moves_the_glossary_key(db, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\nglossary = "ctrl+g"\n"glossary.add" = "ctrl+n"\n', encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("G")
        assert isinstance(app.screen, AnnotateScreen)  # G no longer opens it
        await pilot.press("ctrl+g", "plus")
        assert isinstance(app.screen, GlossaryScreen)  # + no longer adds
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, EntryForm)


def test_glossary_view_120x36(tmp_path, snap_compare):
    """The list (markup, escapes and right-to-left text in entries shown literally), the
    highlighted entry in full, and what ``a`` would add."""
    path = tmp_path / "glossary.db"
    build_project(path).close()
    store = Store.open(path)
    store.add_glossary([
        GlossaryEntry("网络空间命运共同体", "zh", "a community with a shared future in cyberspace",
                      "domain=cyberspace; title and text of the SCIO white paper of November 2022",
                      "State Council Information Office, white paper (November 2022)",
                      "community of shared future in cyberspace"),
        GlossaryEntry("[bold]x[/]", "en", "\x1b[31mred\x1b[0m", "[link=http://x]click[/link]", "test"),
        GlossaryEntry("الأمن الوطني", "ar", "national security", "", "test"),
    ])
    store.close()
    app = make_app(path, "ann", "framing", suggest=False)
    assert snap_compare(app, press=["j", "j", "j", "G"], terminal_size=(120, 36))

"""One hostile string through every path by which text the code did not write reaches the
screen: search terms, annotator names, scheme names, titles and definitions, corpus metadata,
notifications quoting errors and model names, the command palette, tooltips, and the command
line's messages about file names. It must always show as itself, and nothing may crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.command import CommandPalette
from textual.content import Content
from textual.widgets import Input, OptionList

from _ui_fixtures import build_project, speech_record
from annotator.cli import cli
from annotator.schemes import load_scheme_file
from annotator.store import Store
from annotator.text import visible_text
from annotator.ui.app import SuggestionsStopped, TrainingDone, make_app
from annotator.ui.widgets import TopBar

HOSTILE = "[/] [bold red]x[/] [@click=app.quit]q[/] [$accent]v [B]b \\[i] \x1b[31mred \u202eevil\u2069 end"
SHOWN = visible_text(HOSTILE)  # what the screen must show: the same, control characters made visible
SIZE = (200, 40)

SCHEME = f"""
name = {HOSTILE!r}
title = {HOSTILE!r}
[[frames]]
id = "Economic"
name = {HOSTILE!r}
definition = {HOSTILE!r}
key = "1"
[[frames]]
id = "Morality"
name = "Morality"
definition = "Duty."
key = "2"
[[spans]]
id = "Slogan"
name = {HOSTILE!r}
definition = {HOSTILE!r}
key = "s"
""".replace("'", '"').replace("\\x1b", "\\u001b").replace("\\u202e", "\\u202E")


@pytest.fixture
def scheme_file(tmp_path) -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(SCHEME.replace("\x1b", "\\u001b").replace("\u202e", "\\u202e").replace("\u2069", "\\u2069"),
                    encoding="utf-8")
    assert load_scheme_file(path).name == HOSTILE
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "ui.db"
    store = build_project(path)
    speech, segs = speech_record("en", HOSTILE, ["A speech with a hostile title and language."])
    speech["language"] = HOSTILE
    speech["content_hash"] = "f" * 64
    store.add_speech(speech, [{**segs[0], "language": HOSTILE}])
    store.close()
    return path


def plain(widget) -> str:
    rendered = widget.render()
    return rendered.plain if hasattr(rendered, "plain") else str(rendered)


def toasts(app) -> list[str]:
    """Each notification as its toast draws it (markup parsed only where the notification asks for it)."""
    return [(Content.from_markup(n.message) if n.markup else Content(n.message)).plain for n in app._notifications]


async def test_every_screen_path_shows_hostile_text_as_itself(db, scheme_file):
    app = make_app(db, HOSTILE, str(scheme_file), suggest=False)  # --annotator and --scheme
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert SHOWN in plain(screen.query_one("#who", TopBar))  # annotator and scheme name
        await pilot.press("question_mark")  # the guidelines: title, names, definitions
        guide = plain(screen.query_one("#guidelines").query_one("Static"))
        assert guide.count(SHOWN) >= 4
        assert SHOWN in plain(screen.query_one("#frames"))  # the checklist's label name

        # search for it: header, the count notification, and the prompt survive
        await pilot.press("slash")
        await pilot.press(*HOSTILE.replace("\x1b", "").replace("\u202e", "").replace("\u2069", ""))
        await pilot.press("enter")
        assert app.is_running
        typed = HOSTILE.replace("\x1b", "").replace("\u202e", "").replace("\u2069", "")
        assert "search=" + typed in plain(screen.query_one("#who", TopBar))

        # the speech's title and its language code (corpus metadata)
        await pilot.press("slash")
        app.screen.query_one(Input).value = ""  # clear the search
        await pilot.press("enter")
        hostile_segment = app.session.ids[-1]
        screen.show_segment(hostile_segment)
        await pilot.pause()
        assert SHOWN in plain(screen.query_one("#meta"))
        await pilot.press("f")  # the filter form lists the languages
        await pilot.pause()
        select = app.screen.query_one("#language")
        prompts = [str(p) for p, _ in select._options]
        assert SHOWN in prompts
        await pilot.press("escape")

        # notifications quoting errors and model names
        screen.post_message(TrainingDone([], HOSTILE))
        screen.post_message(TrainingDone([f"frames {HOSTILE}: micro-F1 0.5"]))
        screen.post_message(SuggestionsStopped([], screen.suggest_run, HOSTILE))
        await pilot.pause()
        assert app.is_running
        shown = toasts(app)
        assert sum(SHOWN in m for m in shown) >= 3 and all("\x1b" not in m for m in shown)

        # the command palette: titles and help come from the scheme
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Frame")
        await pilot.pause(0.5)
        options = app.screen.query_one(OptionList)
        texts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(SHOWN in t for t in texts), texts
        await pilot.press("escape")
        assert app.is_running

        # tooltips (footer keys) are markup to Textual: escaped so they read as themselves
        tooltips = [b.tooltip for b in type(screen).BINDINGS if b.tooltip]
        assert any(Content.from_markup(t).plain == SHOWN for t in tooltips)


async def test_adopting_a_hostile_annotators_decision_is_told_literally(db):
    from annotator.store import AnnotationState

    store = Store.open(db)
    first = store.segment_ids()[0]
    store.decide(first, "ann", AnnotationState(("Economic",), (), "accepted"))
    store.decide(first, HOSTILE, AnnotationState(("Morality",), (), "corrected"))
    store.close()
    app = make_app(db, "chen", "framing", suggest=False, adjudicate=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        votes = [v.annotator for v in app.screen.votes]
        await pilot.press(str(votes.index(HOSTILE) + 1))
        await pilot.pause()
        assert app.is_running
        assert any(SHOWN in m for m in toasts(app)), toasts(app)  # drawn, as itself


def test_cli_quotes_hostile_file_names_and_never_echoes_them_raw(tmp_path):
    bad = tmp_path / "speech\x1b[2J\nname.txt"
    bad.write_text("", encoding="utf-8")  # empty: an error that names the file
    result = CliRunner().invoke(cli, ["import", str(bad), "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 2
    assert "\x1b" not in result.output and result.output.count("\n") == 1
    assert "\\x1b[2J\\nname.txt" in result.output
    assert "empty file" in result.output


def test_cli_output_never_carries_escapes_from_names_or_schemes(tmp_path, scheme_file):
    db = tmp_path / "p.db"
    store = build_project(db)
    from annotator.store import AnnotationState

    store.decide(store.segment_ids()[0], HOSTILE, AnnotationState((), (), "rejected"))
    store.close()
    out = CliRunner().invoke(cli, ["status", "--db", str(db)]).output
    assert "\x1b" not in out and "\u202e" not in out and "\\x1b[31mred" in out
    home = tmp_path / "home"
    (home / "schemes").mkdir(parents=True)
    (home / "schemes" / "hostile.toml").write_bytes(scheme_file.read_bytes())
    env = {**os.environ, "ANNOTATOR_HOME": str(home)}
    listing = subprocess.run([sys.executable, "-m", "annotator", "schemes", "-v"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "\x1b" not in listing.stdout and "\u202e" not in listing.stdout
    assert "[bold red]x[/]" in listing.stdout


async def test_another_annotators_name_beside_the_suggestions_is_shown_as_itself(db):
    """Who else labelled a segment (its list icon, the status line, the others' block, the
    checklist's ◆ marks): a name is data, shown literally."""
    from annotator.store import AnnotationState, SpanLabel

    store = Store.open(db)
    first = store.segment_ids()[0]
    store.decide(first, HOSTILE, AnnotationState(("Economic",), (SpanLabel(0, 2, "Slogan"),), "corrected"))
    store.close()
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert SHOWN in plain(screen.query_one("#others"))
        assert SHOWN[:15] + "…" in plain(screen.query_one("#frames"))  # cut to 16 cells beside the frame
        assert SHOWN[:15] + "…" in plain(screen.query_one("#meta"))
        assert app.is_running

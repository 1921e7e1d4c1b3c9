"""A label scheme may never give a label a key that an action of the annotation screen takes,
in any mode (annotating, span mode, adjudication): the reserved keys come from the screen's
own key table, so a new binding cannot silently shadow a label."""

from __future__ import annotations

import string

import pytest
from textual.keys import _character_to_key

from annotator.errors import AnnotatorError
from annotator.keymap import (
    ANNOTATE_KEYS,
    key_character,
    key_name,
    read_keymap,
    reserved_characters,
)
from annotator.schemes import BUILTIN_DIR, load_scheme_file
from annotator.ui.app import AnnotateScreen

SCHEME = """
name = "keys"
[[frames]]
id = "Economic"
name = "Economic"
definition = "Money."
key = {key!r}
[[spans]]
id = "Slogan"
name = "Slogan"
definition = "A slogan."
key = "s"
"""


def write_scheme(tmp_path, key: str):
    path = tmp_path / "keys.toml"
    path.write_text(SCHEME.format(key=key).replace("'", '"'), encoding="utf-8")
    return path


@pytest.mark.parametrize("key, action", [("d", "Adjudicate"), ("c", "Take decision"), ("U", "Redo"),
                                         ("?", "Guide"), ("/", "Search"), ("a", "Accept"), ("u", "Undo")])
def test_a_label_key_an_action_takes_is_refused_naming_the_action(tmp_path, key, action):
    with pytest.raises(AnnotatorError) as err:
        load_scheme_file(write_scheme(tmp_path, key))
    assert f"key {key!r}" in str(err.value) and repr(action) in str(err.value)


def test_a_free_key_is_accepted(tmp_path):
    assert load_scheme_file(write_scheme(tmp_path, "1")).frames[0].key == "1"


def test_every_typed_key_the_screen_binds_is_reserved():
    """What the screen and its speech and glossary views bind (all modes) is exactly what the
    scheme check refuses."""
    from annotator.ui.glossary_view import GlossaryScreen
    from annotator.ui.speech_view import SpeechScreen

    screens = (*AnnotateScreen.BINDINGS, *SpeechScreen.BINDINGS, *GlossaryScreen.BINDINGS)
    bound = {key.strip() for b in screens for key in b.key.split(",")}
    typed = {c for c in map(key_character, bound) if c is not None and c.isprintable()}
    assert typed == set(reserved_characters())
    assert {"d", "c", "U", "?", "/", "v", "G"} <= set(reserved_characters())
    assert {k.mode for k in ANNOTATE_KEYS} == {"annotate", "span", "adjudicate", "always", "speech", "glossary"}


def test_a_label_key_cannot_take_the_speech_view_key(tmp_path):
    with pytest.raises(AnnotatorError, match="'Whole speech' action"):
        load_scheme_file(write_scheme(tmp_path, "v"))


@pytest.mark.parametrize("char", list(string.printable.strip()))
def test_key_names_match_textuals(char):
    assert key_name(char) == _character_to_key(char)
    assert key_character(key_name(char)) == char


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_builtin_schemes_pass_the_key_check(path):
    scheme = load_scheme_file(path)
    assert not {lab.key for lab in (*scheme.frames, *scheme.spans)} & set(reserved_characters())


# ------------------------------------------------------------------------ user keymap files
KEYMAP_CASES = [
    ('[keys]\nfoo = "z"\n', "'foo'", "no key has this id"),
    ('[keys]\naccept = "x"\n', "'accept'", "'x' is already the 'Reject' action (reject)"),
    ('[keys]\naccept = 1\n', "'accept'", "not int 1"),
    ('[keys]\naccept = "1"\n', "'accept'", "the scheme's label 'Economic' (frame.Economic)"),
    ('[keys]\n"frame.Economic" = "n"\n', "'frame.Economic'", "the 'Next new' action (next_unannotated)"),
    ('[keys]\naccept = "ctrl+q"\n', "'accept'", "the app's own key for 'Quit'"),
    ('[keys]\naccept = "entr"\n', "'accept'", "'entr' is not a key name"),
    ('[keys]\naccept = "enter"\n', "'accept'", "'enter' is already the 'Add/resize span' action (span.commit)"),
    ('[keys\naccept = "enter"\n', ":1:", "not valid TOML (Expected ']' at the end of a table declaration"),
    ('accept = "enter"\n', "'accept'", "a keymap file has one [keys] table"),
]


@pytest.mark.parametrize("text, entry, problem", KEYMAP_CASES)
def test_a_bad_keymap_entry_is_one_line_naming_the_file_and_the_entry(tmp_path, monkeypatch, text, entry, problem):
    from _ui_fixtures import build_project

    from annotator.ui.app import make_app

    db = tmp_path / "p.db"
    build_project(db).close()
    keymap = tmp_path / "my keymap.toml"
    keymap.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    with pytest.raises(AnnotatorError) as err:
        make_app(db, "ann", "framing", suggest=False)
    message = str(err.value)
    assert message.startswith((f"{keymap}: ", f"{keymap}:1: ")) and entry in message and problem in message, message
    assert "\n" not in message


def test_the_command_line_says_what_is_wrong_with_the_keymap_before_the_ui_starts(tmp_path, monkeypatch):
    from _ui_fixtures import build_project
    from click.testing import CliRunner

    from annotator.cli import cli

    db = tmp_path / "p.db"
    build_project(db).close()
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\n"span.commit" = "ctrl+s"\nundo = "x"\n', encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    result = CliRunner().invoke(cli, ["annotate", "--db", str(db), "--annotator", "ann"])
    assert result.exit_code == 2
    assert result.output == (f"annotator: error: {keymap}: [keys] 'undo' = 'x': 'x' is already the 'Reject' "
                             "action (reject); move that one too, or choose another key\n")


def test_a_good_keymap_moves_keys_and_frees_the_old_ones(tmp_path):
    from annotator.schemes import get_scheme
    from annotator.ui.bindings import scheme_keys

    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\naccept = "enter"\n"span.commit" = "ctrl+s"\nundo = "z"\nredo = "backspace, ?"\n'
                      'guidelines = "f1"\n"frame.Economic" = "a"\n', encoding="utf-8")
    got = read_keymap(keymap, scheme_keys(get_scheme("framing")))
    assert got == {"accept": "enter", "span.commit": "ctrl+s", "undo": "z", "redo": "backspace,question_mark",
                   "guidelines": "f1", "frame.Economic": "a"}


def test_the_keymap_file_is_found_in_the_project_folder_or_named_by_the_environment(tmp_path, monkeypatch):
    from annotator.paths import keymap_file

    monkeypatch.delenv("ANNOTATOR_KEYMAP", raising=False)
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path))
    assert keymap_file() is None
    (tmp_path / "keymap.toml").write_text("[keys]\n", encoding="utf-8")
    assert keymap_file() == tmp_path / "keymap.toml"
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(tmp_path / "elsewhere.toml"))
    assert keymap_file() == tmp_path / "elsewhere.toml"  # named: it must exist
    monkeypatch.setenv("ANNOTATOR_KEYMAP", "")
    assert keymap_file() is None  # set but empty: no keymap, not even the project folder's
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(tmp_path / "elsewhere.toml"))
    with pytest.raises(AnnotatorError, match="elsewhere.toml: no such keymap file"):
        read_keymap(keymap_file(), ANNOTATE_KEYS)


def test_the_keymap_table_has_no_textual_import():
    import subprocess
    import sys

    code = "import sys, annotator.keymap, annotator.schemes\nprint('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

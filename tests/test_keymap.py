"""A label scheme may never give a label a key that an action of the annotation screen takes,
in any mode (annotating, span mode, adjudication): the reserved keys come from the screen's
own key table, so a new binding cannot silently shadow a label."""

from __future__ import annotations

import string

import pytest
from textual.keys import _character_to_key

from annotator.errors import AnnotatorError
from annotator.keymap import ANNOTATE_KEYS, key_character, key_name, reserved_characters
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
    """What the screen binds (all modes) is exactly what the scheme check refuses."""
    bound = {key.strip() for b in AnnotateScreen.BINDINGS for key in b.key.split(",")}
    typed = {c for c in map(key_character, bound) if c is not None and c.isprintable()}
    assert typed == set(reserved_characters())
    assert {"d", "c", "U", "?", "/"} <= set(reserved_characters())
    assert {k.mode for k in ANNOTATE_KEYS} == {"annotate", "span", "adjudicate", "always"}


@pytest.mark.parametrize("char", list(string.printable.strip()))
def test_key_names_match_textuals(char):
    assert key_name(char) == _character_to_key(char)
    assert key_character(key_name(char)) == char


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_builtin_schemes_pass_the_key_check(path):
    scheme = load_scheme_file(path)
    assert not {lab.key for lab in (*scheme.frames, *scheme.spans)} & set(reserved_characters())

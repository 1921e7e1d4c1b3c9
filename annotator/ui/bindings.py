"""The annotation screen's Textual bindings, built from the key table in ``annotator.keymap``
(which has no Textual import), and the user's keymap file checked against them.

A scheme's label keys are bindings like any other: :func:`screen_bindings` gives the actions'
and the labels' bindings, each with its id, and the screen class for a scheme declares them as
its ``BINDINGS`` (see ``AnnotateScreen.for_scheme``), so the footer, the command palette and
``App.set_keymap`` see them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App
from textual.binding import Binding

from annotator.keymap import ANNOTATE_KEYS, Key, key_character, label_keys, read_keymap
from annotator.paths import keymap_file
from annotator.schemes import Scheme
from annotator.text import markup_literal, visible_text


def binding(key: Key) -> Binding:
    """One key of the table as a Textual binding. Descriptions are drawn literally by the
    footer; tooltips are markup to Textual, so they are escaped (a label's name and definition
    are the scheme file's text)."""
    return Binding(key.keys, key.action, visible_text(key.description), show=key.show,
                   key_display=key.key_display, id=key.id, tooltip=markup_literal(key.tooltip))


def screen_bindings(keys: Iterable[Key]) -> list[Binding]:
    return [binding(key) for key in keys]


def scheme_keys(scheme: Scheme) -> tuple[Key, ...]:
    """Every key of the annotation screen for ``scheme``: the actions', then the labels'."""
    return (*ANNOTATE_KEYS, *label_keys(scheme))


def app_keys(app_class: type[App]) -> dict[str, str]:
    """The keys the app itself binds (quit, the command palette), which a keymap may not take."""
    taken = {}
    for item in app_class.BINDINGS:
        if isinstance(item, Binding):
            for key in item.key.split(","):
                taken[key.strip()] = item.description or item.action
    if app_class.ENABLE_COMMAND_PALETTE:
        taken[app_class.COMMAND_PALETTE_BINDING] = "command palette"
    return taken


def user_keymap(scheme: Scheme, app_class: type[App] = App) -> dict[str, str]:
    """The user's keymap file (``ANNOTATOR_KEYMAP``, or ``keymap.toml`` in the project folder),
    checked against the screen's keys for ``scheme``: binding id → keys, for ``App.set_keymap``;
    empty without a file. A bad entry is an ``AnnotatorError`` naming the file and the entry."""
    path = keymap_file()
    if path is None:
        return {}
    return read_keymap(path, scheme_keys(scheme), app_keys(app_class))


def shown_label_keys(keymap: dict[str, str]) -> dict[str, str]:
    """Binding id → the key to show beside a label (checklist, guide) for the label keys a
    keymap moved: its first key, as the character it types where there is one ("question_mark"
    → "?", "ctrl+s" stays)."""
    shown = {}
    for binding_id, keys in keymap.items():
        if binding_id.startswith(("frame.", "spans.")):
            first = keys.split(",")[0]
            char = key_character(first)
            shown[binding_id] = char if char is not None and char.isprintable() else first
    return shown

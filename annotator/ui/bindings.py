"""The annotation screen's Textual bindings, built from the key table in ``annotator.keymap``
(which has no Textual import).

A scheme's label keys are bindings like any other: :func:`screen_bindings` gives the actions'
and the labels' bindings, each with its id, and the screen class for a scheme declares them as
its ``BINDINGS`` (see ``AnnotateScreen.for_scheme``), so the footer, the command palette and
keymaps see them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding

from annotator.keymap import ANNOTATE_KEYS, Key, label_keys
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

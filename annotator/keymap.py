"""The annotation screen's keys, in one table: the UI builds its bindings from it, and label
schemes are checked against it, so that a scheme can never give a label a key an action
already takes (in any mode: annotating, span mode, adjudication, the speech view, the glossary view).

Keys are Textual key names ("a", "U", "slash", "question_mark", "ctrl+r"); a label's key in a
scheme is a character, turned into a key name by :func:`key_name` the way Textual names the
key that types it. This module has no Textual import: the core validates schemes without it.

Every key has a stable id (``accept``, ``span.commit``; a label's key ``frame.<label id>`` or
``spans.<label id>``, see :func:`label_keys`). A user's keymap file maps ids to other keys;
:func:`read_keymap` checks it against this table before the UI starts.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.errors import InputError
from annotator.inputs import parse_toml, read_input

if TYPE_CHECKING:
    from annotator.schemes import Scheme

# Textual's friendlier names for some punctuation (textual.keys.KEY_NAME_REPLACEMENTS).
_REPLACEMENTS = {"solidus": "slash", "reverse_solidus": "backslash", "commercial_at": "at",
                 "hyphen_minus": "minus", "plus_sign": "plus", "low_line": "underscore"}
_REPLACED = {v: k for k, v in _REPLACEMENTS.items()}


@dataclass(frozen=True)
class Key:
    keys: str  # comma-separated key names
    action: str
    description: str
    id: str
    # where it acts: annotate | span | adjudicate | always | speech (the speech view) | glossary (its view)
    mode: str = "annotate"
    show: bool = True
    key_display: str | None = None
    tooltip: str = ""
    label: str = ""  # a scheme label's key: the label's name (description and tooltip are the scheme's text)


ANNOTATE_KEYS: tuple[Key, ...] = (
    Key("a", "accept", "Accept", "accept", tooltip="Save the labels as they stand"),
    Key("x", "reject", "Reject", "reject", tooltip="Nothing to label here"),
    Key("space", "skip", "Skip", "skip", tooltip="Decide later"),
    Key("backspace,u", "undo", "Undo", "undo", mode="always", key_display="⌫"),
    Key("ctrl+r,U", "redo", "Redo", "redo", mode="always", show=False),
    Key("j,down", "next", "Next", "next", show=False),
    Key("k,up", "previous", "Previous", "previous", show=False),
    Key("n", "next_unannotated", "Next new", "next_unannotated"),
    Key("g", "jump", "Go to", "jump", show=False, tooltip="Jump to a segment id"),
    Key("slash", "search", "Search", "search"),
    Key("f", "filters", "Filter", "filters"),
    Key("m", "more_like_this", "More like this", "more_like_this",
        tooltip="List the segments most similar in meaning to this one, nearest first (f, Clear: back)"),
    Key("v", "speech_view", "Whole speech", "speech_view",
        tooltip="Read the whole speech: its text, the frames suggested for it with scores and thresholds, "
                "and its own frames (the frame keys toggle them; esc returns)"),
    Key("G", "glossary", "Glossary", "glossary", mode="always", show=False,
        tooltip="The glossary of official formulations: search it, and add the span you are marking "
                "(or the segment's first span) with its official rendering (esc returns)"),
    Key("question_mark,f1", "toggle_guidelines", "Guide", "guidelines", mode="always",
        tooltip="Every label with its definition, what the scores and thresholds mean, the keys"),
    # Before span mode's escape: with the guide open, escape closes the guide first.
    Key("escape", "close_guidelines", "Close guide", "guidelines.close", mode="always"),
    Key("d", "toggle_adjudicate", "Adjudicate", "adjudicate", show=False,
        tooltip="Show only the segments annotators disagree on, and settle them"),
    Key("c", "choose", "Take decision", "adjudicate.choose", mode="adjudicate",
        tooltip="Take one annotator's decision as the adjudicated one"),
    Key("ctrl+t", "retrain('frames,spans')", "Retrain now", "retrain", mode="always", show=False,
        tooltip="Train new frames and slogan models (the quick ones, seconds) on the labels so far"),
    Key("left", "span_left", "◀", "span.left", mode="span"),
    Key("right", "span_right", "▶", "span.right", mode="span"),
    Key("shift+left", "span_extend_left", "Extend ◀", "span.extend_left", mode="span", show=False),
    Key("shift+right", "span_extend_right", "Extend ▶", "span.extend_right", mode="span"),
    Key("enter", "span_commit", "Add/resize span", "span.commit", mode="span"),
    Key("delete", "span_delete", "Delete span", "span.delete", mode="span"),
    Key("escape", "span_leave", "Done", "span.leave", mode="span", tooltip="Leave span mode"),
    Key("escape", "close", "Back", "speech.close", mode="speech", tooltip="Back to the segments"),
    Key("plus", "add_entry", "Add", "glossary.add", mode="glossary", key_display="+",
        tooltip="Add a formulation: the span's phrase and language filled in, its rendering typed"),
    Key("escape", "close", "Back", "glossary.close", mode="glossary", tooltip="Back to the segments"),
)

ACTIONS_IN = {mode: {k.action.split("(")[0] for k in ANNOTATE_KEYS if k.mode == mode}
              for mode in ("annotate", "span", "adjudicate", "always", "speech", "glossary")}

# The speech view (``v``) answers these keys of the table besides its own (mode "speech") and
# the scheme's frame keys: one id, one key, wherever it acts — a keymap moves it everywhere.
SPEECH_VIEW_IDS = ("accept", "reject", "undo", "redo")
# The glossary view (``G``) answers its own keys (mode "glossary") and these: ``/`` searches there.
GLOSSARY_VIEW_IDS = ("search",)


def screen_keys(speech_view: bool = False, glossary_view: bool = False) -> tuple[Key, ...]:
    """The table's keys of the annotation screen, of the speech view or of the glossary view."""
    if speech_view:
        return tuple(k for k in ANNOTATE_KEYS if k.mode == "speech" or k.id in SPEECH_VIEW_IDS)
    if glossary_view:
        return tuple(k for k in ANNOTATE_KEYS if k.mode == "glossary" or k.id in GLOSSARY_VIEW_IDS)
    return tuple(k for k in ANNOTATE_KEYS if k.mode not in ("speech", "glossary"))


def key_name(character: str) -> str:
    """The key name Textual gives the key that types ``character`` ("/" → "slash")."""
    if character.isalnum():
        return character
    try:
        name = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return character
    return _REPLACEMENTS.get(name, name)


def key_character(name: str) -> str | None:
    """The character a key name types, or ``None`` ("ctrl+r", "left", "f1")."""
    if len(name) == 1:
        return name
    return _typed_by().get(name)


@functools.cache
def _typed_by() -> dict[str, str]:
    """Key name → character, for every non-alphanumeric character up to U+2FFF (Unicode names
    mix spaces and hyphens, "LESS-THAN SIGN", so the name cannot simply be looked up)."""
    return {key_name(c): c for c in map(chr, range(0x20, 0x3000)) if not c.isalnum() and c.isprintable()}


def reserved_characters() -> dict[str, str]:
    """Every character some action of the annotation screen (or its speech and glossary views)
    takes, with that action's name."""
    taken: dict[str, str] = {}
    for key in ANNOTATE_KEYS:
        for name in key.keys.split(","):
            char = key_character(name.strip())
            if char is not None and char.isprintable():
                taken.setdefault(char, key.description)
    return taken


def label_keys(scheme: Scheme) -> tuple[Key, ...]:
    """The scheme's label keys: a frame's toggles it, a span label's starts span mode with it.

    Names and definitions are the scheme file's text, kept as they are here: the UI shows them
    literally (descriptions are drawn as text, tooltips escaped)."""
    keys = [Key(key_name(lab.key), f"toggle_frame('{lab.id}')", f"Frame: {lab.name}", f"frame.{lab.id}",
                show=False, tooltip=lab.definition, label=lab.name)
            for lab in scheme.frames if lab.key]
    keys += [Key(key_name(lab.key), f"span_mode('{lab.id}')", "Spans", f"spans.{lab.id}",
                 tooltip=f"Mark {lab.name} spans with the arrow keys", label=lab.name)
             for lab in scheme.spans if lab.key]
    return tuple(keys)


# ------------------------------------------------------------------------ keymap files
MAX_KEYMAP_BYTES = 1 << 20  # a keymap is a few dozen lines
MODIFIERS = ("ctrl", "alt", "shift", "meta", "super", "hyper")
NAMED_KEYS = frozenset({
    "escape", "enter", "tab", "space", "backspace", "delete", "insert", "home", "end", "pageup", "pagedown",
    "up", "down", "left", "right", *(f"f{i}" for i in range(1, 25))})


def normal_key(text: str) -> str | None:
    """The Textual name of one key as a keymap file may write it ("?" → "question_mark",
    "ctrl+s", "shift+left"), or ``None`` if it names no key."""
    text = text.strip()
    if len(text) == 1:
        return key_name(text) if text.isprintable() and not text.isspace() else None
    parts = text.split("+")
    if text.endswith("++"):  # "ctrl++": the plus key with a modifier
        parts = [*parts[:-2], "+"]
    *mods, base = (part.strip() for part in parts)
    if any(m not in MODIFIERS for m in mods) or len(set(mods)) != len(mods):
        return None
    if len(base) == 1:
        base = key_name(base) if base.isprintable() and not base.isspace() else ""
    elif base not in NAMED_KEYS and base not in _typed_by():
        return None
    return "+".join([*mods, base]) if base else None


def _whose(key: Key) -> str:
    if key.label:
        return f"the key of the scheme's label {key.label!r} ({key.id})"
    return f"the {key.description!r} action ({key.id})"


def read_keymap(path: str | Path, keys: Iterable[Key], taken: Mapping[str, str] | None = None) -> dict[str, str]:
    """The keymap file at ``path`` (``[keys]`` maps binding ids to keys), checked against the
    screen's keys, ``keys`` (the scheme's label keys included); ``taken``: keys the app itself
    binds (key name → what it does), which no binding may move onto.

    Returns binding id → comma-separated Textual key names, for ``App.set_keymap``. A bad entry
    is an :class:`InputError` naming the file and the entry: an unknown id, a value that is not
    a key name, or a key another action (or a label) takes after the keymap is applied.
    """
    path = Path(path)
    data = parse_toml(read_input(path, "keymap file", MAX_KEYMAP_BYTES), path)
    for name in data:
        if name != "keys":
            raise InputError(path, f"unknown entry {name!r}: a keymap file has one [keys] table")
    table = data.get("keys", {})
    if not isinstance(table, dict):
        raise InputError(path, "'keys' must be a table: [keys] then lines such as accept = \"enter\"")
    keys = tuple(keys)
    by_id = {key.id: key for key in keys}
    remapped: dict[str, list[str]] = {}
    for binding_id, value in table.items():
        entry = f"[keys] {binding_id!r}"
        if binding_id not in by_id:
            actions = ", ".join(k.id for k in keys if not k.label)
            raise InputError(path, f"{entry}: no key has this id; ids are {actions}, and frame.<label id> or "
                                   "spans.<label id> for a scheme's label keys")
        if not isinstance(value, str):
            raise InputError(path, f"{entry}: must be a key name in quotes (such as \"enter\" or \"ctrl+s\"), "
                                   f"not {type(value).__name__} {value!r}")
        names = []
        for part in value.split(","):
            name = normal_key(part)
            if name is None:
                raise InputError(path, f"{entry} = {value!r}: {part.strip()!r} is not a key name "
                                       "(such as \"enter\", \"ctrl+s\", \"f2\", \"?\")")
            names.append(name)
        remapped[binding_id] = list(dict.fromkeys(names))
    # Who takes each key once the keymap is applied: a remapped binding loses its old keys.
    owner: dict[str, Key] = {}
    for key in keys:
        if key.id not in remapped:
            for name in key.keys.split(","):
                owner.setdefault(name.strip(), key)
    for binding_id, names in remapped.items():
        value = table[binding_id]
        for name in names:
            entry = f"[keys] {binding_id!r} = {value!r}"
            if taken and name in taken:
                raise InputError(path, f"{entry}: {name!r} is the app's own key for {taken[name]!r}; "
                                       "choose another key")
            other = owner.get(name)
            if other is not None and other.id != binding_id:
                raise InputError(path, f"{entry}: {name!r} is already {_whose(other)}; "
                                       "move that one too, or choose another key")
            owner[name] = by_id[binding_id]
    return {binding_id: ",".join(names) for binding_id, names in remapped.items()}

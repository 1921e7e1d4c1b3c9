"""Facts about text, in one place: which scripts write words without spaces, the units a span
cursor moves over, the order right-to-left text is displayed in, and how corpus text is shown
safely (it is data, never markup or terminal control sequences).

Segmentation, span mode, the span tagger, search, the glosses and the CoNLL export all take
their notion of "a character of a script without spaces" from here, so a language cannot be
cut one way on screen and another way in an export. Offsets are Python code points.
"""

from __future__ import annotations

import re
import unicodedata

# ---------------------------------------------------------------------------------- scripts
# Code-point ranges by script. Han, kana and the CJK punctuation and full-width forms are
# written without spaces between words; Hangul is written with spaces (Korean words are
# separated), so it is split into words like Latin, but it is searched by substring like the
# other CJK scripts (its words carry particles: a substring finds a word in any form).
HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
KANA = ((0x3040, 0x30FF),)
CJK_PUNCTUATION = ((0x3000, 0x303F), (0xFF00, 0xFFEF))
HANGUL = ((0xAC00, 0xD7AF),)
UNSPACED = (*HAN, *KANA, *CJK_PUNCTUATION)


def _char_class(ranges) -> str:
    return "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges) + "]"


HAN_CHAR = re.compile(_char_class(HAN))
UNSPACED_CHAR = re.compile(_char_class(UNSPACED))
SUBSTRING_SEARCHED_CHAR = re.compile(_char_class((*UNSPACED, *HANGUL)))


def is_unspaced(ch: str) -> bool:
    """A character of a script written without spaces between words (Han, kana, CJK punctuation)."""
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in UNSPACED)


# ------------------------------------------------------------------------------- word units
def _joins_previous(ch: str) -> bool:
    """Combining marks, variation selectors and ZWJ belong to the character before them."""
    return unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in "\u200d\ufe0f\ufe0e" or (
        0x1F3FB <= ord(ch) <= 0x1F3FF)  # skin-tone modifiers


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN" or ch in "_'’-"


def word_units(text: str) -> list[tuple[int, int]]:
    """The units the span cursor moves over: words, or single characters in scripts written
    without spaces.

    Punctuation and emoji are units of their own; combining marks, ZWJ sequences and
    variation selectors stay with the character before them. Offsets are code points.
    """
    units: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        j = i + 1
        if _is_word_char(ch) and not is_unspaced(ch):
            while j < n and ((_is_word_char(text[j]) and not is_unspaced(text[j])) or _joins_previous(text[j])):
                j += 1
        else:
            while j < n and (_joins_previous(text[j]) or (text[j - 1] == "\u200d" and not text[j].isspace())):
                j += 1
        units.append((i, j))
        i = j
    return units


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``start, end`` moved inwards past whitespace at either edge."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _edge_mark(text: str, i: int, at_end: bool) -> bool:
    """Whitespace or punctuation that a marked phrase does not begin or end with (quotes,
    brackets, commas, 、。“”); a full stop after a capital stays ("the U.S.")."""
    ch = text[i]
    if ch.isspace():
        return True
    if not unicodedata.category(ch).startswith("P"):
        return False
    return not (at_end and ch == "." and i > 0 and text[i - 1].isupper())


def trimmed_phrase(text: str, start: int, end: int) -> tuple[int, int]:
    """``start, end`` moved inwards past whitespace and punctuation at either edge: a slogan is
    marked without the quotation marks around it."""
    while start < end and _edge_mark(text, start, at_end=False):
        start += 1
    while end > start and _edge_mark(text, end - 1, at_end=True):
        end -= 1
    return start, end


# ---------------------------------------------------------------------------- bidi display
_RTL_RE = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


def has_rtl(text: str) -> bool:
    return _RTL_RE.search(text) is not None


# Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder the
# text around them: passed raw, they make a terminal show text in an order it is not in
# ("Trojan Source"). Shown as ⌧, a key-cap "hidden control here", one cell like the rest.
BIDI_CONTROLS = frozenset((*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
BIDI_PICTURE = "\u2327"  # ⌧


def visible_text(text: str) -> str:
    """``text`` with control characters made visible, one code point for one code point.

    ESC becomes ␛ and other C0 controls their Control Pictures (U+2400 block), DEL ␡, C1
    controls and lone surrogates �, bidirectional overrides and isolates ⌧, line and paragraph
    separators ␤: nothing from a corpus reaches the terminal as a control sequence, and span
    offsets still index the shown string.
    """
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20:
            out.append(chr(0x2400 + o))
        elif o == 0x7F:
            out.append("\u2421")
        elif 0x80 <= o < 0xA0 or 0xD800 <= o < 0xE000:
            out.append("\ufffd")
        elif o in BIDI_CONTROLS:
            out.append(BIDI_PICTURE)
        elif o in (0x2028, 0x2029):
            out.append("\u2424")
        else:
            out.append(ch)
    return "".join(out)


def name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as an annotator's name (it is stored with every decision,
    shown in the screen, the exports and agreement tables), or ``None``: it must have a visible
    character, and hold no control character (NUL, a line break, ESC…), no line or paragraph
    separator, no bidirectional override or isolate (which would show the names around it in
    another order) and no lone surrogate (not a character; SQLite cannot store it)."""
    if not name.strip():
        return "is empty"
    for i, ch in enumerate(name, start=1):
        o = ord(ch)
        if 0xD800 <= o < 0xE000:
            what = f"a lone surrogate (U+{o:04X}), which is not a character"
        elif unicodedata.category(ch) == "Cc" or o in BIDI_CONTROLS or o in (0x2028, 0x2029):
            what = "a NUL character (U+0000)" if o == 0 else f"a control character (U+{o:04X})"
        else:
            continue
        return f"holds {what} at character {i}; a name is printable text"
    return None


def markup_literal(text: str) -> str:
    """``text`` (made visible) for the few places that only take Textual markup — the command
    palette's titles and help, tooltips — escaped so that it shows as itself: every ``[``
    becomes ``\\[`` (Textual's markup reads ``\\[`` as a literal bracket and leaves other
    backslashes alone)."""
    return visible_text(text).replace("[", "\\[")


def terminal_safe(text: str) -> str:
    """A line for the command line's output: every character that is not printable (escape
    sequences, bidi overrides, C1 controls) written as its Python escape (``\\x1b``), line
    breaks and tabs kept, so that names, file names and corpus text quoted in a message or a
    table never drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in "\n\t" else ascii(ch)[1:-1] for ch in text)


def visual_order(line: str) -> list[tuple[int, str]]:
    """``(logical index, character)`` of ``line`` in display order (Unicode bidi algorithm).

    Textual draws cells left to right and has no bidi support, so right-to-left lines are
    reordered for display only (with python-bidi; brackets in right-to-left runs mirrored);
    stored text and offsets stay in logical order.
    """
    if not has_rtl(line):
        return list(enumerate(line))
    from bidi import algorithm as bidi_alg

    storage = bidi_alg.get_empty_storage()
    base = bidi_alg.get_base_level(line)
    storage["base_level"] = base
    storage["base_dir"] = ("L", "R")[base]
    bidi_alg.get_embedding_levels(line, storage, False, False)
    for i, ch in enumerate(storage["chars"]):
        ch["index"] = i
    bidi_alg.explicit_embed_and_overrides(storage, False)
    bidi_alg.resolve_weak_types(storage, False)
    bidi_alg.resolve_neutral_types(storage, False)
    bidi_alg.resolve_implicit_levels(storage, False)
    bidi_alg.reorder_resolved_levels(storage, False)
    bidi_alg.apply_mirroring(storage, False)
    order = [(ch["index"], ch["ch"]) for ch in storage["chars"]]
    # Explicit formatting characters may be dropped by the algorithm: keep every index once.
    seen = {i for i, _ in order}
    return order + [(i, line[i]) for i in range(len(line)) if i not in seen]


def display_line(line: str) -> str:
    """A line as the terminal should show it (right-to-left runs reordered)."""
    if not has_rtl(line):
        return line
    from bidi import get_display

    return get_display(line)

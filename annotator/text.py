"""Showing corpus text safely: it is data, never markup or terminal control sequences."""

from __future__ import annotations


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

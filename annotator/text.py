"""Showing corpus text safely: it is data, never markup or terminal control sequences."""

from __future__ import annotations


def visible_text(text: str) -> str:
    """``text`` with control characters made visible, one code point for one code point.

    ESC becomes ␛ and other C0 controls their Control Pictures (U+2400 block), DEL ␡, C1
    controls and lone surrogates �: nothing from a corpus reaches the terminal as a control
    sequence, and span offsets still index the shown string.
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
        else:
            out.append(ch)
    return "".join(out)

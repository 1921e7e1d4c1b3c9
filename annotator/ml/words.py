"""Where words begin and end in text written without spaces (Chinese, Japanese), so that a
suggested span never cuts a word.

jieba (MIT; its dictionary ships with it) cuts each run of Han characters into words, with the
known formulations the caller names (the glossary's phrases, the slogans annotators marked)
added to its dictionary so that they stay whole. A span edge that falls inside such a word
moves outwards to the word's edge: a linguist marks 网络强国阔步迈进, never 网络强国阔步迈.

One jieba tokenizer per process, loaded on first use (about a second); the formulations it has
been told stay in its dictionary for the process's life, which only ever keeps more phrases whole.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache

from annotator.text import is_unspaced

_lock = threading.Lock()
_tokenizer = None
_known: set[str] = set()
KNOWN_FREQ = 5000  # jieba frequency given to a known formulation, so that it stays whole in context


def _jieba():
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # "Building prefix dict…" is no news to a linguist
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _tokenizer = tokenizer
        return _tokenizer


def keep_whole(phrases: Iterable[str]) -> None:
    """Add formulations to the dictionary so that they are cut as one word from now on."""
    new = [p for p in phrases if len(p) > 1 and has_unspaced(p) and p not in _known]
    if not new:
        return
    tokenizer = _jieba()
    with _lock:
        for phrase in new:
            _known.add(phrase)
            tokenizer.add_word(phrase, max(tokenizer.suggest_freq(phrase), KNOWN_FREQ))
        _word_edges.cache_clear()


@lru_cache(maxsize=4096)
def _word_edges(text: str) -> tuple[frozenset[int], frozenset[int]]:
    """(starts, ends) of the words jieba cuts from ``text``'s unspaced runs."""
    starts: set[int] = set()
    ends: set[int] = set()
    tokenizer = _jieba()
    for word, start, end in tokenizer.tokenize(text, HMM=False):
        if any(is_unspaced(ch) for ch in word):
            starts.add(start)
            ends.add(end)
    return frozenset(starts), frozenset(ends)


def has_unspaced(text: str) -> bool:
    return any(is_unspaced(ch) for ch in text)


def snap_unspaced(text: str, start: int, end: int) -> tuple[int, int]:
    """``start, end`` widened to whole words where an edge falls inside a word of an unspaced
    script (unchanged where the text has none)."""
    if not has_unspaced(text[max(0, start - 1):end + 1]):
        return start, end
    starts, ends = _word_edges(text)
    if 0 < start < len(text) and is_unspaced(text[start]) and start not in starts:
        start = max((s for s in starts if s < start), default=start)
    if 0 < end < len(text) and is_unspaced(text[end - 1]) and end not in ends:
        end = min((e for e in ends if e > end), default=end)
    return start, end


def cuts_a_word(text: str, start: int, end: int) -> bool:
    """Whether a span's edge falls inside a word of an unspaced script (what :func:`snap_unspaced`
    mends)."""
    return snap_unspaced(text, start, end) != (start, end)

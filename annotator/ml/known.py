"""Known formulations: the phrases a project already knows to be slogans, found in new text.

Two sources: the glossary of official formulations (网络强国, "high-quality development") and
the spans annotators have marked themselves — once a linguist marks 新质生产力 as a slogan in one
speech, its other occurrences are strong evidence too. The slogan tagger reads a match as a
feature and suggests it outright (``ml.span_linear``); measured on the demo labels, these matches
alone are right 19 times in 20 (``bench/README.md``).

Chinese and Japanese match as substrings; scripts with spaces match case-insensitively on
whole words only ("Belt and Road" never inside "Belted").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from annotator.ml.words import has_unspaced

# Shorter phrases than these are too ambiguous to mark wherever they occur.
MIN_CHARS_UNSPACED = 3  # 脱贫攻坚, 中国梦; not two-character words such as 发展
MIN_CHARS_SPACED = 6  # "Brexit", "empire of lies"; not "war"


def long_enough(phrase: str) -> bool:
    phrase = phrase.strip()
    return len(phrase) >= (MIN_CHARS_UNSPACED if has_unspaced(phrase) else MIN_CHARS_SPACED)


@dataclass
class KnownFormulations:
    """Phrase → span label, and for annotators' phrases the speeches (groups) they were marked in,
    so that training can leave a speech's own phrases out of its features."""

    labels: dict[str, str] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)  # empty for glossary entries: always known
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _folded: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(cls, glossary: Iterable[str], glossary_label: str, marked: Iterable[tuple[str, str, str]]
              ) -> "KnownFormulations":
        """``glossary`` phrases carry ``glossary_label``; ``marked`` are (phrase, label, group)."""
        known = cls()
        for phrase in glossary:
            phrase = phrase.strip()
            if long_enough(phrase):
                known.labels.setdefault(phrase, glossary_label)
        for phrase, label, group in marked:
            phrase = phrase.strip()
            if not long_enough(phrase):
                continue
            if phrase in known.labels and phrase not in known.groups:
                continue  # in the glossary already: known everywhere
            known.labels.setdefault(phrase, label)
            known.groups.setdefault(phrase, set()).add(group)
        return known

    def to_json(self) -> dict:
        return {"labels": self.labels, "groups": {k: sorted(v) for k, v in self.groups.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "KnownFormulations":
        return cls(dict(data.get("labels", {})), {k: set(v) for k, v in data.get("groups", {}).items()})

    def __len__(self) -> int:
        return len(self.labels)

    def pattern(self) -> re.Pattern[str] | None:
        """One regular expression for every phrase, longest first (so the longest one wins)."""
        if self._pattern is None and self.labels:
            parts = []
            for phrase in sorted(self.labels, key=lambda p: (-len(p), p)):
                body = re.escape(phrase)
                if not has_unspaced(phrase):  # whole words only
                    body = rf"(?<!\w){body}(?!\w)"
                parts.append(body)
            self._pattern = re.compile("|".join(parts), re.IGNORECASE)
        return self._pattern

    def _phrase_of(self, matched: str) -> str | None:
        """The known phrase a match stands for (matches ignore case)."""
        if self._folded is None:
            self._folded = {p.casefold(): p for p in sorted(self.labels, reverse=True)}
        return self._folded.get(matched.casefold())

    def matches(self, text: str, leave_out_group: str | None = None) -> list[tuple[int, int, str]]:
        """(start, end, label) of every known phrase in ``text``, never overlapping; with
        ``leave_out_group``, phrases marked only in that speech are not known."""
        pattern = self.pattern()
        if pattern is None:
            return []
        found = []
        for m in pattern.finditer(text):
            phrase = self._phrase_of(m.group(0))
            if phrase is None:
                continue
            groups = self.groups.get(phrase)
            if leave_out_group is not None and groups and groups <= {leave_out_group}:
                continue
            found.append((m.start(), m.end(), self.labels[phrase]))
        return found

    def inside(self, text: str, offsets: Sequence[Sequence[int]], labels: Sequence[str],
               leave_out_group: str | None = None) -> list[list[float]]:
        """Per token, per span label: 1.0 where the token lies in a known phrase of that label."""
        hits = self.matches(text, leave_out_group)
        flags = []
        for start, end in offsets:
            row = [0.0] * len(labels)
            if end > start:
                for s, e, label in hits:
                    if start < e and end > s and label in labels:
                        row[labels.index(label)] = 1.0
            flags.append(row)
        return flags

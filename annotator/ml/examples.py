"""Labelled examples as plain data: what training and evaluation read (no database here).

The store turns accepted annotations into :class:`Example` objects; ``ml`` never sees SQL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from annotator.ml.context import SegmentContext


@dataclass(frozen=True)
class Example:
    """One gold-labelled segment.

    ``spans`` are character offsets into ``text`` (start inclusive, end exclusive) with a label;
    ``group`` is the speech the segment comes from, so that splits never cut a speech in two;
    ``context`` the segments around it (for models that read context; not part of its identity).
    """

    id: str
    text: str
    language: str = ""
    frames: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    group: str = ""
    context: SegmentContext | None = field(default=None, compare=False, repr=False)

    def canonical(self) -> dict:
        """A stable dict: frames sorted, spans sorted, so equal labels hash equally."""
        return {
            "id": self.id,
            "text": self.text,
            "language": self.language,
            "frames": sorted(set(self.frames)),
            "spans": sorted([int(s), int(e), str(lab)] for s, e, lab in self.spans),
            "group": self.group,
        }


def data_hash(examples: Iterable[Example]) -> str:
    """sha256 of the examples' canonical JSON, independent of their order."""
    rows = sorted((ex.canonical() for ex in examples), key=lambda row: row["id"])
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

"""Labelled examples as plain data: what training and evaluation read (no database here).

The store turns accepted annotations into :class:`Example` objects; ``ml`` never sees SQL.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """One gold-labelled segment.

    ``spans`` are character offsets into ``text`` (start inclusive, end exclusive) with a label;
    ``group`` is the speech the segment comes from, so that splits never cut a speech in two.
    """

    id: str
    text: str
    language: str = ""
    frames: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    group: str = ""

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


def split_by_group(
    examples: Sequence[Example], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[list[Example]]:
    """Split into parts (e.g. train/dev/test) with whole speeches in one part each.

    Segments of one speech share topic and wording; splitting a speech across train and test
    would make scores look better than they are on new speeches.
    """
    if not fractions or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be non-negative and sum to more than 0, got {fractions!r}")
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(ex.group or ex.id, []).append(ex)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    total = sum(fractions)
    parts: list[list[Example]] = [[] for _ in fractions]
    placed = 0
    # Fill parts in order by example count, so large speeches do not unbalance the split.
    target = [f / total * len(examples) for f in fractions]
    bounds = [sum(target[: i + 1]) for i in range(len(target))]
    part = 0
    for name in names:
        while part < len(parts) - 1 and placed >= bounds[part] - 1e-9:
            part += 1
        parts[part].extend(groups[name])
        placed += len(groups[name])
    return parts


def stable_split_by_group(
    examples: Sequence[Example], fractions: Sequence[float] = (0.7, 0.15, 0.15), salt: str = "annotator-split-1"
) -> list[list[Example]]:
    """Split by speech, each speech always in the same part, whatever else is labelled.

    A speech's part comes from a hash of its group id (use a stable id, such as its content
    hash, not a database row id). So as a project labels more, speeches only join parts and
    never move between them: a later model is never tested on segments an earlier version was
    trained on, and "better than the previous version" compares like with like.
    """
    total = sum(fractions)
    if not fractions or total <= 0:
        raise ValueError(f"fractions must sum to more than 0, got {fractions!r}")
    bounds, acc = [], 0.0
    for f in fractions:
        acc += f / total
        bounds.append(acc)
    parts: list[list[Example]] = [[] for _ in fractions]
    for ex in examples:
        digest = hashlib.sha256(f"{salt}:{ex.group or ex.id}".encode("utf-8")).hexdigest()
        u = int(digest[:12], 16) / 16**12
        parts[next((i for i, b in enumerate(bounds) if u < b), len(parts) - 1)].append(ex)
    return parts

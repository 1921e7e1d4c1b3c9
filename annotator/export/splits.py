"""The export's train/dev/test column: the project's own split (``annotator.splits``), so the
exported test set is the very set the tool tests its models on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotator.splits import DEFAULT_FRACTIONS, DEFAULT_SEED, SPLIT_NAMES, assign_sides, label_keys
from annotator.store import Store
from annotator.store.gold import GoldExample, project_sides, speech_group

__all__ = ["DEFAULT_FRACTIONS", "DEFAULT_SEED", "SPLIT_NAMES", "SplitResult", "project_split", "split_examples"]


@dataclass
class SplitResult:
    by_segment: dict[int, str]  # segment id -> "train" | "dev" | "test"
    summary: dict[str, Any]
    sides: dict[str, str] = field(default_factory=dict)  # speech (content hash) -> side


def _keys(ex: GoldExample) -> list[str]:
    return label_keys(ex.frames, (s["label"] for s in ex.spans))


def split_examples(examples: Sequence[GoldExample], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                   seed: int = DEFAULT_SEED, fixed: Mapping[str, str] | None = None) -> SplitResult:
    """Assign every example's segment to train/dev/test, whole speeches together (speeches in
    ``fixed`` keep their side)."""
    sides = assign_sides([(speech_group(ex), _keys(ex)) for ex in examples], fractions, seed, fixed)
    by_segment = {ex.segment_id: sides[speech_group(ex)] for ex in examples}
    return SplitResult(by_segment, _summary(examples, by_segment, fractions, seed), sides)


def project_split(store: Store, examples: Sequence[GoldExample]) -> SplitResult:
    """The project's own split (the one training tests on): placed speeches keep their side,
    new ones are placed and kept."""
    fixed = project_sides(store, [(speech_group(ex), _keys(ex)) for ex in examples])
    result = split_examples(examples, fixed=fixed)
    result.summary["project_split"] = True
    return result


def _summary(examples: Sequence[GoldExample], by_segment: dict[int, str], fractions: Sequence[float],
             seed: int) -> dict[str, Any]:
    sizes = Counter(by_segment.values())
    speeches = {name: len({ex.speech_id for ex in examples if by_segment[ex.segment_id] == name})
                for name in SPLIT_NAMES}
    counts: dict[str, Counter] = {name: Counter() for name in SPLIT_NAMES}
    for ex in examples:
        counts[by_segment[ex.segment_id]].update(_keys(ex))
    return {
        "seed": seed,
        "fractions": dict(zip(SPLIT_NAMES, (round(f / sum(fractions), 6) for f in fractions))),
        "group_by": "speech",
        "sizes": {name: sizes.get(name, 0) for name in SPLIT_NAMES},
        "speeches": speeches,
        "label_counts": {name: dict(sorted(counts[name].items())) for name in SPLIT_NAMES},
    }

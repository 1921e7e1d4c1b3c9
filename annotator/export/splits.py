"""Train/dev/test splits that keep whole speeches on one side and label proportions close.

Segments of one speech share topic, speaker and wording; a speech cut across train and test
would make test scores look better than they are on new speeches. So speeches are the unit that
is assigned. Which side a speech goes to is chosen greedily (largest speeches first, ties in an
order fixed by the seed): each speech goes where it most reduces the distance between every
side's label counts and segment count and their targets (a simple form of iterative
stratification over groups, Sechidis et al. 2011).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from annotator.errors import AnnotatorError
from annotator.store.gold import GoldExample

SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
DEFAULT_SEED = 13
# Segment counts matter more than any one label's count: a split far off its size is worse than
# a slightly uneven rare label.
SIZE_WEIGHT = 2.0


@dataclass
class SplitResult:
    by_segment: dict[int, str]  # segment id -> "train" | "dev" | "test"
    summary: dict[str, Any]


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` (or percentages ``"80,10,10"``) to three fractions summing to 1."""
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise AnnotatorError(f"--split {text!r}: give three numbers, e.g. 0.8,0.1,0.1") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise AnnotatorError(f"--split {text!r}: give three non-negative numbers, e.g. 0.8,0.1,0.1")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)


def _label_counts(examples: Sequence[GoldExample]) -> Counter:
    counts: Counter = Counter()
    for ex in examples:
        counts.update(f"frame:{f}" for f in ex.frames)
        counts.update(f"span:{s['label']}" for s in ex.spans)
        if not ex.frames and not ex.spans:
            counts["none"] += 1
    return counts


def split_examples(examples: Sequence[GoldExample], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                   seed: int = DEFAULT_SEED) -> SplitResult:
    """Assign every example's segment to train/dev/test, whole speeches together."""
    if len(fractions) != len(SPLIT_NAMES):
        raise ValueError(f"need {len(SPLIT_NAMES)} fractions, got {fractions!r}")
    groups: dict[int, list[GoldExample]] = {}
    for ex in examples:
        groups.setdefault(ex.speech_id, []).append(ex)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda sid: -len(groups[sid]))  # stable: the shuffle breaks ties by size
    totals = _label_counts(examples)
    n_total = len(examples)
    total_f = sum(fractions)
    target_n = [f / total_f * n_total for f in fractions]
    target_l = [{lab: f / total_f * c for lab, c in totals.items()} for f in fractions]
    have_n = [0] * len(fractions)
    have_l: list[Counter] = [Counter() for _ in fractions]
    side_of: dict[int, int] = {}
    for sid in order:
        group_counts = _label_counts(groups[sid])
        size = len(groups[sid])
        costs = [
            _added_cost(have_l[i], target_l[i], totals, group_counts, have_n[i], target_n[i], n_total, size)
            for i in range(len(fractions))
        ]
        # Among equally good sides, the one furthest below its size target; never a 0-fraction side.
        best = min((i for i in range(len(fractions)) if fractions[i] > 0),
                   key=lambda i: (round(costs[i], 12), have_n[i] - target_n[i]))
        side_of[sid] = best
        have_n[best] += size
        have_l[best].update(group_counts)
    by_segment = {ex.segment_id: SPLIT_NAMES[side_of[ex.speech_id]] for ex in examples}
    return SplitResult(by_segment, _summary(examples, by_segment, fractions, seed, have_l, side_of))


def _added_cost(have: Counter, target: dict[str, float], totals: Counter, group: Counter,
                have_n: int, target_n: float, n_total: int, size: int) -> float:
    """How much further from its targets a side gets by taking a speech (negative: closer)."""
    cost = 0.0
    for lab, c in group.items():
        before = abs(have[lab] - target[lab])
        after = abs(have[lab] + c - target[lab])
        cost += (after - before) / totals[lab]
    cost += SIZE_WEIGHT * (abs(have_n + size - target_n) - abs(have_n - target_n)) / max(n_total, 1)
    return cost


def _summary(examples: Sequence[GoldExample], by_segment: dict[int, str], fractions: Sequence[float],
             seed: int, have_l: list[Counter], side_of: dict[int, int]) -> dict[str, Any]:
    sizes = Counter(by_segment.values())
    speeches = Counter(SPLIT_NAMES[i] for i in side_of.values())
    return {
        "seed": seed,
        "fractions": dict(zip(SPLIT_NAMES, (round(f, 6) for f in fractions))),
        "group_by": "speech",
        "sizes": {name: sizes.get(name, 0) for name in SPLIT_NAMES},
        "speeches": {name: speeches.get(name, 0) for name in SPLIT_NAMES},
        "label_counts": {SPLIT_NAMES[i]: dict(sorted(have_l[i].items())) for i in range(len(SPLIT_NAMES))},
    }

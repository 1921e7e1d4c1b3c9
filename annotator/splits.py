"""Train/dev/test: which side of the split each speech is on — one algorithm, for the export,
training, evaluation and the comparison of versions alike.

Segments of one speech share topic, speaker and wording; a speech cut across train and test
would make test scores look better than they are on new speeches. So speeches are the unit
that is assigned (by a stable id: the content hash of their text). Which side a speech goes to
is chosen greedily (largest speeches first, ties in an order fixed by the seed): each speech
goes where it most reduces the distance between every side's label counts and segment count
and their targets (a simple form of iterative stratification over groups, Sechidis et al.
2011).

Speeches already placed (``fixed``, which the project keeps in its database) stay where they
are and count toward their side's targets; only new speeches are placed. So, as a project
labels more, speeches only join sides and never move: a later model is never tested on
segments an earlier version was trained on, and "better than the previous version" compares
like with like.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
DEFAULT_SEED = 13
# Segment counts matter more than any one label's count: a split far off its size is worse than
# a slightly uneven rare label.
SIZE_WEIGHT = 2.0

T = TypeVar("T")
_TIE_ORDER = (0, 2, 1)  # train, then test, then dev


def label_keys(frames: Iterable[str], span_labels: Iterable[str]) -> list[str]:
    """What the split balances for one example: its frames, its span labels, or "none"."""
    keys = [f"frame:{f}" for f in frames] + [f"span:{s}" for s in span_labels]
    return keys or ["none"]


def assign_sides(items: Iterable[tuple[str, Sequence[str]]], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                 seed: int = DEFAULT_SEED, fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    """The side ("train", "dev", "test") of every group (speech) in ``items``.

    ``items``: one ``(group, label keys)`` per example (see :func:`label_keys`). Groups in
    ``fixed`` keep their side; the others are placed greedily toward the targets.
    """
    if len(fractions) != len(SPLIT_NAMES) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"need {len(SPLIT_NAMES)} non-negative fractions with a positive sum, got {fractions!r}")
    fixed = fixed or {}
    sizes: Counter = Counter()
    labels: dict[str, Counter] = {}
    for group, keys in items:
        sizes[group] += 1
        labels.setdefault(group, Counter()).update(keys)
    totals: Counter = sum(labels.values(), Counter())
    n_total = sum(sizes.values())
    total_f = sum(fractions)
    target_n = [f / total_f * n_total for f in fractions]
    target_l = [{lab: f / total_f * c for lab, c in totals.items()} for f in fractions]
    have_n = [0] * len(fractions)
    have_l: list[Counter] = [Counter() for _ in fractions]
    sides: dict[str, str] = {}
    for group in sizes:
        if fixed.get(group) in SPLIT_NAMES:
            side = SPLIT_NAMES.index(fixed[group])
            sides[group] = fixed[group]
            have_n[side] += sizes[group]
            have_l[side].update(labels[group])
    order = sorted(g for g in sizes if g not in sides)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -sizes[g])  # stable: the shuffle breaks ties by size
    for group in order:
        costs = [_added_cost(have_l[i], target_l[i], totals, labels[group], have_n[i], target_n[i], n_total,
                             sizes[group]) for i in range(len(fractions))]
        # Among equally good sides, the one furthest below its size target, test before dev
        # (a project with two speeches can then train and test); never a 0-fraction side.
        best = min((i for i in range(len(fractions)) if fractions[i] > 0),
                   key=lambda i: (round(costs[i], 12), have_n[i] - target_n[i], _TIE_ORDER[i]))
        sides[group] = SPLIT_NAMES[best]
        have_n[best] += sizes[group]
        have_l[best].update(labels[group])
    return sides


def _added_cost(have: Counter, target: dict[str, float], totals: Counter, group: Counter,
                have_n: int, target_n: float, n_total: int, size: int) -> float:
    """How much further from its targets a side gets by taking a speech (negative: closer)."""
    cost = 0.0
    for lab, c in group.items():
        cost += (abs(have[lab] + c - target[lab]) - abs(have[lab] - target[lab])) / totals[lab]
    cost += SIZE_WEIGHT * (abs(have_n + size - target_n) - abs(have_n - target_n)) / max(n_total, 1)
    return cost


def example_group(ex: Any) -> str:
    """The group of a training example (``annotator.ml.examples.Example``): its speech."""
    return ex.group or ex.id


def split_examples_by_side(examples: Sequence[T], sides: Mapping[str, str]) -> list[list[T]]:
    """Training examples as [train, dev, test] lists, by their speech's side."""
    parts: list[list[T]] = [[] for _ in SPLIT_NAMES]
    for ex in examples:
        parts[SPLIT_NAMES.index(sides[example_group(ex)])].append(ex)
    return parts


def split_training_examples(examples: Sequence[T], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                            seed: int = DEFAULT_SEED, fixed: Mapping[str, str] | None = None) -> list[list[T]]:
    """[train, dev, test] of training examples (with ``group``, ``id``, ``frames``, ``spans``)."""
    items = [(example_group(ex), label_keys(ex.frames, (s[2] for s in ex.spans))) for ex in examples]
    return split_examples_by_side(examples, assign_sides(items, fractions, seed, fixed))

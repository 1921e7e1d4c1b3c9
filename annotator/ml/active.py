"""Which segment to annotate next: most uncertain first, without dwelling on one speech.

Uncertainty of a segment = mean binary entropy (in bits, 0..1) of its frame scores
+ (1 - the lowest score among its suggested spans); a segment without span suggestions adds 0.
Pure functions: the caller brings the model's scores.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Candidate:
    id: str
    group: str  # the speech, so that the queue moves between speeches
    frame_scores: Mapping[str, float] = field(default_factory=dict)
    span_scores: Sequence[float] = ()


def binary_entropy(p: float) -> float:
    """Entropy of a yes/no decision with probability ``p``, in bits (1.0 at p = 0.5)."""
    p = min(max(float(p), 0.0), 1.0)
    if p in (0.0, 1.0):
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def uncertainty(candidate: Candidate) -> float:
    scores = list(candidate.frame_scores.values())
    frames = sum(binary_entropy(p) for p in scores) / len(scores) if scores else 0.0
    spans = 1.0 - min(candidate.span_scores) if len(candidate.span_scores) else 0.0
    return frames + spans


def uncertainty_order(items: Iterable[Candidate], diversity: int = 3, pool: int | None = 200) -> list[str]:
    """Segment ids, most uncertain first, at most ``diversity`` in a row from one speech.

    Only the ``pool`` most uncertain segments are interleaved across speeches (all of them when
    ``pool`` is None): a certain segment from another speech should not jump ahead of an
    uncertain one just for variety. ``diversity`` <= 0 turns interleaving off. Ties keep id order.
    """
    return order_by_uncertainty(((c.id, c.group, uncertainty(c)) for c in items), diversity, pool)


def order_by_uncertainty(scored: Iterable[tuple[str, str, float]], diversity: int = 3,
                         pool: int | None = 200) -> list[str]:
    """:func:`uncertainty_order` for ``(id, speech, uncertainty)`` already computed (e.g. stored)."""
    ranked = sorted(scored, key=lambda item: (-item[2], item[0]))
    if diversity <= 0:
        return [item[0] for item in ranked]
    cut = len(ranked) if pool is None else max(0, pool)
    head, tail = ranked[:cut], ranked[cut:]
    return _interleave([(i, g) for i, g, _ in head], diversity) + [item[0] for item in tail]


def _interleave(ranked: list[tuple[str, str]], max_run: int) -> list[str]:
    """Greedy: take the most uncertain remaining segment unless its speech has had its run."""
    # One heap entry per speech, keyed by its best remaining rank; each speech a queue.
    queues: dict[str, list[int]] = {}
    for rank, (_, group) in enumerate(ranked):
        queues.setdefault(group, []).append(rank)
    heap = [(ranks[0], group) for group, ranks in queues.items()]
    heapq.heapify(heap)
    positions = {group: 0 for group in queues}
    order: list[str] = []
    run_group, run_len = None, 0
    while heap:
        best = heapq.heappop(heap)
        chosen = best
        if best[1] == run_group and run_len >= max_run and heap:
            chosen = heapq.heappop(heap)
            heapq.heappush(heap, best)
        rank, group = chosen
        order.append(ranked[rank][0])
        run_len = run_len + 1 if group == run_group else 1
        run_group = group
        positions[group] += 1
        if positions[group] < len(queues[group]):
            heapq.heappush(heap, (queues[group][positions[group]], group))
    return order

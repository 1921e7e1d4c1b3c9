"""Sentence alignment of a text and its translation: monotone, over sentence embeddings.

As vecalign and bertalign do it: dynamic programming over the two sentence sequences, where a
step takes one sentence on each side (1-1), one and two (1-2, 2-1), or skips a sentence that
the other side lacks (1-0, 0-1). A merged group is embedded as the length-weighted mean of its
sentences' embeddings (mean pooling makes that close to embedding the joined text, and costs no
encoder time).

The cost of a pair is its cosine distance divided by the mean distance of each side to unrelated
sentences (vecalign's normalisation: multilingual encoders put all sentences fairly close, e5's
unrelated pairs at cosine 0.75-0.85, so raw distances mean little), about 1 for an unrelated
pair and 0.3-0.6 for a translation. Each step's cost counts once per sentence it covers, and a
merge pays a penalty on top, so that two good 1-1 pairs beat one 1-2 that swallows a
neighbour; a skip costs ``SKIP_COST`` per sentence, less than an unrelated pair.

The score of an aligned group is ``1 - cost``, clipped to 0..1: 0 is what unrelated sentences
get, 1 an identical text ("2." / "2.").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SKIP_COST = 0.45  # per sentence left out
MERGE_PENALTY = 0.3  # a 1-2 or 2-1 step costs this much more per sentence than two 1-1 steps would
STEPS = ((1, 1), (1, 2), (2, 1), (1, 0), (0, 1))
BAND = 32  # cells either side of the diagonal searched (more for long or lopsided texts)


@dataclass(frozen=True)
class AlignedGroup:
    source: tuple[int, ...]
    target: tuple[int, ...]
    score: float

    @property
    def kind(self) -> str:
        return f"{len(self.source)}-{len(self.target)}"


def _merged(vectors: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row i: the length-weighted mean of sentences i and i+1, normalised (n-1 rows)."""
    if len(vectors) < 2:
        return np.zeros((0, vectors.shape[1]), np.float32)
    both = vectors[:-1] * lengths[:-1, None] + vectors[1:] * lengths[1:, None]
    return both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-9)


def _spread(vectors: np.ndarray, background: np.ndarray | None) -> np.ndarray:
    """Each vector's mean cosine distance to unrelated sentences (1 where none are given)."""
    if background is None or len(background) == 0:
        return np.ones(len(vectors), np.float32)
    return np.maximum(1.0 - (vectors @ background.T).mean(axis=1), 1e-3)


def align_sentences(source: np.ndarray, target: np.ndarray,
                    source_lengths: Sequence[int], target_lengths: Sequence[int],
                    source_background: np.ndarray | None = None,
                    target_background: np.ndarray | None = None) -> list[AlignedGroup]:
    """The best monotone alignment of ``source`` and ``target`` sentences (L2-normalised
    embeddings, one row each; lengths in characters), as its aligned groups in order; skipped
    sentences are in none. The backgrounds are embeddings of unrelated sentences on each side
    (a sample of other speeches' sentences): ``source_background`` is what target sentences are
    compared with, and ``target_background`` the source ones."""
    n, m = len(source), len(target)
    if not n or not m:
        return []
    ls = np.maximum(np.asarray(source_lengths, np.float32), 1.0)
    lt = np.maximum(np.asarray(target_lengths, np.float32), 1.0)
    groups_s = {1: source, 2: _merged(source, ls)}
    groups_t = {1: target, 2: _merged(target, lt)}
    spread_s = {a: _spread(v, target_background) for a, v in groups_s.items()}
    spread_t = {b: _spread(v, source_background) for b, v in groups_t.items()}
    cost = {}
    for a, b in ((1, 1), (1, 2), (2, 1)):
        distance = 1.0 - groups_s[a] @ groups_t[b].T
        cost[a, b] = distance / ((spread_s[a][:, None] + spread_t[b][None, :]) / 2)

    band = max(BAND, abs(n - m) + BAND // 2, max(n, m) // 10)
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    step = np.zeros((n + 1, m + 1), np.int8)
    for i in range(n + 1):
        centre = i * m / n
        for j in range(max(0, int(centre) - band), min(m, int(centre) + band + 1) + 1):
            if i == 0 and j == 0:
                continue
            best, best_k = np.inf, -1
            for k, (a, b) in enumerate(STEPS):
                if i < a or j < b or total[i - a, j - b] == np.inf:
                    continue
                if a and b:
                    c = cost[a, b][i - a, j - b] * (a + b) / 2 * (1 + MERGE_PENALTY * (a + b > 2))
                else:
                    c = SKIP_COST
                if total[i - a, j - b] + c < best:
                    best, best_k = total[i - a, j - b] + c, k
            total[i, j], step[i, j] = best, best_k
    out: list[AlignedGroup] = []
    i, j = n, m
    while i or j:
        a, b = STEPS[step[i, j]]
        if a and b:
            score = float(np.clip(1.0 - cost[a, b][i - a, j - b], 0.0, 1.0))
            out.append(AlignedGroup(tuple(range(i - a, i)), tuple(range(j - b, j)), round(score, 3)))
        i, j = i - a, j - b
    return out[::-1]

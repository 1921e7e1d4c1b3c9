"""A segment's context in its speech: the segments around it and the whole speech.

Framing is rarely decided by one sentence alone: the sentence before and after, and what the
speech is about, say a great deal. Predictors that use context (the linear frames model) take a
:class:`SegmentContext` beside each text; the others ignore it. Contexts are plain data built by
the services from the store (``ml`` never sees SQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SegmentContext:
    """``before``/``after``: the neighbouring segments' texts ("" at the speech's edges);
    ``speech``: every segment text of the speech, in order (shared between its segments)."""

    before: str = ""
    after: str = ""
    speech: tuple[str, ...] = ()


def contexts_of(segment_texts: Sequence[str]) -> list[SegmentContext]:
    """The context of each segment of one speech, given its segments' texts in order."""
    speech = tuple(segment_texts)
    return [SegmentContext(speech[i - 1] if i > 0 else "", speech[i + 1] if i + 1 < len(speech) else "", speech)
            for i in range(len(speech))]


def uses_context(predictor: Any) -> bool:
    return bool(getattr(predictor, "uses_context", False))


def predict_scores(predictor: Any, texts: Sequence[str],
                   contexts: Sequence[SegmentContext | None] | None = None) -> np.ndarray:
    """Scores (texts x labels) from any frames predictor, with contexts where it uses them."""
    if uses_context(predictor):
        return predictor.predict_matrix(texts, contexts=contexts)
    return predictor.predict_matrix(texts)


def context_texts(contexts: Sequence[SegmentContext | None]) -> list[str]:
    """Every text these contexts read (neighbours, whole speeches), once each, in order: what
    :func:`context_vectors` embeds."""
    wanted: dict[str, None] = {}
    speeches: set[int] = set()  # a speech's texts once, not once per segment (its segments share the tuple)
    for ctx in contexts:
        if ctx is not None:
            wanted.update(dict.fromkeys(t for t in (ctx.before, ctx.after) if t))
            if id(ctx.speech) not in speeches:
                speeches.add(id(ctx.speech))
                wanted.update(dict.fromkeys(t for t in ctx.speech if t))
    return list(wanted)


def context_vectors(embed: Any, texts: Sequence[str], contexts: Sequence[SegmentContext | None] | None,
                    own: np.ndarray) -> np.ndarray:
    """Per text: [mean of its neighbours' embeddings, mean of its speech's embeddings], from
    ``embed(texts) -> array``. A segment without context stands for itself (its own embedding in
    both halves), so a context-using model still answers for a lone sentence."""
    n, dim = own.shape
    out = np.concatenate([own, own], axis=1).astype(np.float32)
    if not contexts:
        return out
    order = context_texts(contexts)
    if not order:
        return out
    vectors = embed(order)
    index = {t: i for i, t in enumerate(order)}
    speech_means: dict[int, np.ndarray] = {}  # by the speech tuple's identity: its segments share it
    for row, ctx in enumerate(contexts):
        if ctx is None:
            continue
        around = [vectors[index[t]] for t in (ctx.before, ctx.after) if t]
        if around:
            out[row, :dim] = np.mean(around, axis=0)
        if ctx.speech:
            key = id(ctx.speech)
            if key not in speech_means:
                speech_means[key] = np.mean([vectors[index[t]] for t in ctx.speech if t] or [own[row]], axis=0)
            out[row, dim:] = speech_means[key]
    return out

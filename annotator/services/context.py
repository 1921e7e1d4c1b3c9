"""Segments in their speech, for the models that read context (``ml.context``)."""

from __future__ import annotations

from collections.abc import Iterable

from annotator.ml.context import SegmentContext, contexts_of
from annotator.store import Store


def segment_contexts(store: Store, speech_ids: Iterable[int]) -> dict[int, SegmentContext]:
    """Segment id → its context (neighbours and whole speech), for every segment of the speeches."""
    out: dict[int, SegmentContext] = {}
    for segments in store.speech_segment_texts(list(speech_ids)).values():
        out.update(zip((i for i, _ in segments), contexts_of([text for _, text in segments])))
    return out

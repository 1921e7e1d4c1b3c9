"""Segments in their speech, for the models that read context (``ml.context``)."""

from __future__ import annotations

from collections.abc import Iterable

from annotator.ml.context import SegmentContext, contexts_of
from annotator.store import Store


def segment_contexts(store: Store, speech_ids: Iterable[int]) -> dict[int, SegmentContext]:
    """Segment id → its context (neighbours and whole speech), for every segment of the speeches."""
    out: dict[int, SegmentContext] = {}
    for speech_id in sorted(set(speech_ids)):
        segments = store.segments_of_speech(speech_id)
        out.update(zip((s.id for s in segments), contexts_of([s.text for s in segments])))
    return out

"""Frame suggestions for whole speeches: every label's score and threshold, per model version.

The scores come from the active ``speech_frames`` version (trained by ``annotator train`` where
there are speech labels: an aggregate of the segment model tuned on dev speeches, or a model of
its own). Without one, the active segment frames version's scores are aggregated as they are
(mean of the 3 highest segment scores, the segment model's thresholds), under the name
``<frames version>+speech``, so a project has speech suggestions before anyone labels a speech.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotator.ml.speech_frames import AggregateSpeechFrames
from annotator.model_kinds import FRAMES, SPEECH_FRAMES
from annotator.progress import Progress
from annotator.services.speech_docs import speech_docs
from annotator.services.suggest import ActiveModels, use_embedding_cache
from annotator.store import Store
from annotator.thresholds import DEFAULT_THRESHOLD

CHUNK = 16  # speeches scored per transaction
UNTUNED_SUFFIX = "+speech"


def untuned_version(frames_version: str) -> str:
    """The name under which an active segment frames version's untuned aggregate is stored."""
    return frames_version + UNTUNED_SUFFIX


def speech_version(store: Store) -> str | None:
    """The version whose speech scores are shown: the active speech frames version, or the
    untuned aggregate of the active segment frames version (None: neither is active)."""
    active = store.active_models()
    if active.get(SPEECH_FRAMES):
        return active[SPEECH_FRAMES]
    return untuned_version(active[FRAMES]) if active.get(FRAMES) else None


def active_speech_predictor(store: Store) -> tuple[str, Any] | None:
    """``(version, predictor)`` of :func:`speech_version`, loaded once per process."""
    models = ActiveModels(store)
    if models.versions.get(SPEECH_FRAMES):
        return models.versions[SPEECH_FRAMES], models.load(SPEECH_FRAMES)
    if models.versions.get(FRAMES):
        frames_version = models.versions[FRAMES]
        return untuned_version(frames_version), AggregateSpeechFrames(models.load(FRAMES),
                                                                      segment_version=frames_version)
    return None


def score_speeches(store: Store, predictor: Any, version: str, speech_ids: Sequence[int]) -> None:
    """Score these speeches with ``predictor`` and store every label's score and threshold."""
    docs = speech_docs(store, speech_ids)
    with ActiveModels._lock:  # the loaded model is shared: its cache is this store's while it predicts
        use_embedding_cache(store, predictor)
        try:
            matrix = predictor.predict_matrix(docs)
        finally:
            if hasattr(predictor, "embedding_cache"):
                predictor.embedding_cache = None
    with store.write():
        for speech_id, row in zip(speech_ids, matrix):
            store.replace_speech_scores(speech_id, version, {
                label: (float(score), float(predictor.thresholds.get(label, DEFAULT_THRESHOLD)))
                for label, score in zip(predictor.labels, row)})


def suggest_speeches(store: Store, speech_ids: Sequence[int] | None = None, limit: int | None = None,
                     progress: Progress | None = None, only_missing: bool = True) -> tuple[str | None, int]:
    """Fill speech scores where the shown version has none (of ``speech_ids``, or of every
    speech; ``only_missing=False``: score them all again); returns the version and how many
    speeches it scored."""
    found = active_speech_predictor(store)
    if found is None:
        return None, 0
    version, predictor = found
    missing = store.speeches_without_scores(version) if only_missing else [s.id for s in store.speeches()]
    if speech_ids is not None:
        wanted = set(speech_ids)
        missing = [i for i in missing if i in wanted]
    todo = missing[:limit] if limit else missing
    for start in range(0, len(todo), CHUNK):
        score_speeches(store, predictor, version, todo[start:start + CHUNK])
        if progress:
            progress("suggest:speeches", min(start + CHUNK, len(todo)), len(todo))
    return version, len(todo)


def summary(version: str | None, scored: int) -> str:
    """One line for ``annotator suggest``."""
    if version is None:
        return "speech frames: no active frames model to score speeches with"
    if not scored:
        return f"speech frames ({version}): every speech has its scores"
    return f"speech frames ({version}): {scored} speeches scored"

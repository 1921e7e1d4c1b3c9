"""Frames for a speech as a whole.

A speech is a :class:`SpeechDoc` (its segments' texts, plain data: ``ml`` never sees SQL). Two
predictors answer ``predict_matrix(docs) -> speeches x labels`` with ``labels`` and
``thresholds``, so suggestion and evaluation read them the same way
(``ml.scoring.evaluate_speech_frames``):

* :class:`AggregateSpeechFrames`: the segment frames model's scores over the speech's segments,
  per label the mean of the ``k`` highest (a few strongly framed sentences make a speech's
  frame; a mean over all would drown them in a long speech, and noisy-or would grow with its
  length until every label fired). ``k`` and the per-label thresholds are tuned on dev speeches
  where there are speech labels; without, ``k`` is 3 and the segment model's thresholds apply.
* :class:`annotator.ml.speech_linear.LinearSpeechFrames`: logistic regression over the mean of
  the speech's segment embeddings, trained on speech-level gold.

Both are saved as registry versions of kind ``speech_frames`` (``method`` ``aggregate`` or
``linear``); an aggregate version holds only its ``meta.json``: the segment frames version it
reads, its ``k`` and thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError, ModelNotFoundError
from annotator.metrics import (
    MIN_DEV_POSITIVES,
    apply_thresholds,
    frame_scores_from_matrix,
    label_matrix,
    tune_thresholds,
)
from annotator.ml.context import contexts_of, predict_scores
from annotator.ml.registry import (
    ModelMeta,
    building,
    encoder_reference,
    find_reference,
    new_version_name,
    read_meta,
    version_dir,
    write_meta,
)
from annotator.model_kinds import SPEECH_FRAMES
from annotator.thresholds import DEFAULT_THRESHOLD

KIND = SPEECH_FRAMES
DEFAULT_K = 3
K_GRID = (1, 2, 3, 5, 8)  # segments whose scores make a speech's, tried on dev


@dataclass(frozen=True)
class SpeechDoc:
    """One speech: ``id`` its key (stable across projects, the split's group), ``segments`` its
    segments' texts in order, ``frames`` its gold frames where it has them."""

    id: str
    segments: tuple[str, ...]
    frames: tuple[str, ...] = ()
    language: str = ""

    @property
    def group(self) -> str:  # what the train/dev/test split keeps together (annotator.splits)
        return self.id


def top_k_mean(scores: np.ndarray, k: int) -> np.ndarray:
    """Per label (column), the mean of the ``k`` highest segment scores (rows); all of them in a
    speech of fewer segments, zeros for a speech without any."""
    if scores.shape[0] == 0:
        return np.zeros(scores.shape[1], np.float32)
    k = max(1, min(k, scores.shape[0]))
    return np.sort(scores, axis=0)[-k:].mean(axis=0).astype(np.float32)


def tune_with_fallback(probs: np.ndarray, y: np.ndarray, labels: Sequence[str],
                       fallback: dict[str, float]) -> dict[str, float]:
    """Per-label thresholds tuned on dev; a label with too few dev positives to tune keeps its
    ``fallback`` threshold (0.5 where it has none)."""
    tuned = tune_thresholds(probs, y)
    return {lab: (tuned[j] if y[:, j].sum() >= MIN_DEV_POSITIVES else float(fallback.get(lab, DEFAULT_THRESHOLD)))
            for j, lab in enumerate(labels)}


class AggregateSpeechFrames:
    """A speech's frames from the segment frames model: per label, the mean of its ``k``
    highest segment scores, against a per-label threshold."""

    method = "aggregate"

    def __init__(self, segment_model: Any, k: int = DEFAULT_K, thresholds: dict[str, float] | None = None,
                 segment_version: str = "") -> None:
        self.segment_model = segment_model
        self.segment_version = segment_version
        self.labels: list[str] = list(segment_model.labels)
        self.k = k
        own = getattr(segment_model, "thresholds", None) or {}
        self.thresholds = dict(thresholds) if thresholds is not None else {lab: float(own.get(lab, DEFAULT_THRESHOLD))
                                                                           for lab in self.labels}

    # The segment model reads the project's embeddings the way suggestion gives them to it.
    @property
    def encoder_dir(self) -> Path | None:
        return getattr(self.segment_model, "encoder_dir", None)

    @property
    def embedding_cache(self) -> Any:
        return getattr(self.segment_model, "embedding_cache", None)

    @embedding_cache.setter
    def embedding_cache(self, cache: Any) -> None:
        if hasattr(self.segment_model, "embedding_cache"):
            self.segment_model.embedding_cache = cache

    def segment_scores(self, docs: Sequence[SpeechDoc]) -> list[np.ndarray]:
        """Each speech's segment scores (segments x labels), every segment in its speech's
        context, in one pass of the segment model."""
        texts = [t for d in docs for t in d.segments]
        contexts = [c for d in docs for c in contexts_of(d.segments)]
        matrix = predict_scores(self.segment_model, texts, contexts) if texts else \
            np.zeros((0, len(self.labels)), np.float32)
        out, start = [], 0
        for d in docs:
            out.append(matrix[start:start + len(d.segments)])
            start += len(d.segments)
        return out

    def predict_matrix(self, docs: Sequence[SpeechDoc]) -> np.ndarray:
        return self._aggregate(self.segment_scores(docs), self.k)

    def _aggregate(self, per_doc: Sequence[np.ndarray], k: int) -> np.ndarray:
        if not per_doc:
            return np.zeros((0, len(self.labels)), np.float32)
        return np.stack([top_k_mean(scores, k) for scores in per_doc])

    def tune(self, dev: Sequence[SpeechDoc]) -> "AggregateSpeechFrames":
        """``k`` and the per-label thresholds that maximise micro-F1 on dev speeches (labels
        with too few dev positives keep the segment model's threshold)."""
        if not dev:
            return self
        own = getattr(self.segment_model, "thresholds", None) or {}
        per_doc = self.segment_scores(dev)
        y = label_matrix((d.frames for d in dev), self.labels)
        best: tuple[float, int, dict[str, float]] = (-1.0, self.k, self.thresholds)
        for k in K_GRID:
            probs = self._aggregate(per_doc, k)
            thresholds = tune_with_fallback(probs, y, self.labels, own)
            score = frame_scores_from_matrix(
                y, apply_thresholds(probs, [thresholds[lab] for lab in self.labels]), self.labels)["micro_f1"]
            if score > best[0] + 1e-9:
                best = (score, k, thresholds)
        _, self.k, self.thresholds = best
        return self

    def save(self, segment_folder: Path, scheme: str = "", scheme_hash: str = "", metrics: dict[str, Any] | None = None,
             root: Path | None = None, extra: dict[str, Any] | None = None) -> Path:
        """A ``speech_frames`` version (method ``aggregate``): its meta.json names the segment
        frames version it reads (under ``models/`` where it lives there)."""
        name = new_version_name(KIND) + "-aggregate"
        final = version_dir(KIND, name, root)
        with building(final) as staging:
            write_meta(staging, ModelMeta(
                kind=KIND, version=name, base=encoder_reference(Path(segment_folder), root), method=self.method,
                scheme=scheme, scheme_hash=scheme_hash, labels=self.labels, thresholds=self.thresholds,
                metrics=metrics or {},
                extra={"k": self.k, "aggregation": "mean of the k highest segment scores",
                       "segment_version": self.segment_version, **(extra or {})}))
        return final

    @classmethod
    def load(cls, folder: Path | str, segment_model: Any) -> "AggregateSpeechFrames":
        """A saved aggregate version over ``segment_model``, the predictor of the segment frames
        version it names (:func:`segment_folder_of`; ``ml.predictors`` loads both)."""
        meta = read_meta(Path(folder))
        if meta.method != cls.method:
            raise AnnotatorError(f"{folder}: method is {meta.method!r}, not {cls.method!r}")
        return cls(segment_model, int(meta.extra.get("k", DEFAULT_K)), dict(meta.thresholds),
                   str(meta.extra.get("segment_version", "")))


def segment_folder_of(folder: Path | str, root: Path | None = None) -> Path:
    """The folder of the segment frames version a saved aggregate version reads."""
    meta = read_meta(Path(folder))
    found = find_reference(meta.base, root)
    if found is None:
        raise ModelNotFoundError(
            f"{folder}: the segment frames version it aggregates ({meta.base!r}) is not on this machine; "
            "run `annotator train` to make a new speech frames version")
    return found

"""A speech-level frames model: class-weighted logistic regression (one per label) over the mean
of the speech's segment embeddings, trained on speech-level gold, its regularisation and
per-label thresholds chosen on dev speeches.

The segment embeddings are the ones the segment models use (same encoder, prefix and length),
so a project that keeps them embeds nothing twice. Saved as a registry version of kind
``speech_frames`` with ``method="linear"``: ``speech_linear.safetensors`` and ``meta.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.metrics import apply_thresholds, frame_scores_from_matrix, label_matrix, tune_thresholds
from annotator.ml.embeddings import E5_QUERY_PREFIX, EmbeddingCache, embed_texts
from annotator.ml.linear import C_GRID, fit_heads, predict_heads
from annotator.ml.registry import (
    ModelMeta,
    building,
    encoder_reference,
    find_encoder,
    new_version_name,
    read_saved,
    version_dir,
    write_meta,
)
from annotator.ml.speech_frames import KIND, SpeechDoc
from annotator.thresholds import DEFAULT_THRESHOLD

WEIGHTS_FILE = "speech_linear.safetensors"


class LinearSpeechFrames:
    """Frame scores for whole speeches from the mean of their segments' sentence embeddings."""

    method = "linear"
    TRAINING_FORMAT = 1  # raise when fit() changes: versions trained before are then not reused

    def __init__(self, c: float | None = None, prefix: str = E5_QUERY_PREFIX, max_length: int = 128) -> None:
        """``c`` None: the inverse regularisation is chosen on dev from ``C_GRID``."""
        self.c, self.prefix, self.max_length = c, prefix, max_length
        self.labels: list[str] = []
        self.thresholds: dict[str, float] = {}
        self.encoder_dir: Path | None = None
        self.embedding_cache: EmbeddingCache | None = None  # set by whoever holds the project
        self.engine: str | None = None  # the inference engine (None: the process's; "torch" pins PyTorch)
        self._head: tuple[np.ndarray, np.ndarray] | None = None

    def features(self, docs: Sequence[SpeechDoc]) -> np.ndarray:
        """Per speech, the L2-normalised mean of its segments' embeddings (every distinct text
        embedded once)."""
        if self.encoder_dir is None:
            raise AnnotatorError("the speech frames model has no encoder: call fit() or load() first")
        texts = list(dict.fromkeys(t for d in docs for t in d.segments))
        vectors = embed_texts(self.encoder_dir, texts, self.prefix, self.max_length, cache=self.embedding_cache,
                              engine=self.engine)
        index = {t: i for i, t in enumerate(texts)}
        out = np.zeros((len(docs), vectors.shape[1]), np.float32)
        for row, d in enumerate(docs):
            if d.segments:
                mean = vectors[[index[t] for t in d.segments]].mean(axis=0)
                out[row] = mean / max(float(np.linalg.norm(mean)), 1e-9)
        return out

    def fit(self, train: Sequence[SpeechDoc], encoder_dir: Path | str, labels: Sequence[str],
            dev: Sequence[SpeechDoc] = ()) -> "LinearSpeechFrames":
        if not train:
            raise AnnotatorError("no speeches with speech-level frames to learn from")
        self.labels, self.encoder_dir = list(labels), Path(encoder_dir)
        x, y = self.features(train), label_matrix((d.frames for d in train), self.labels)
        self.thresholds = {lab: DEFAULT_THRESHOLD for lab in self.labels}
        if not dev:
            self.c = self.c or C_GRID[len(C_GRID) // 2]
            self._head = fit_heads(x, y, self.c)
            return self
        dev_x, dev_y = self.features(dev), label_matrix((d.frames for d in dev), self.labels)
        best: tuple[float, float, Any, list[float]] = (-1.0, 0.0, None, [])
        for c in ([self.c] if self.c else C_GRID):
            head = fit_heads(x, y, c)
            probs = predict_heads(head, dev_x)
            thresholds = tune_thresholds(probs, dev_y)
            score = frame_scores_from_matrix(dev_y, apply_thresholds(probs, thresholds), self.labels)["micro_f1"]
            if score > best[0] + 1e-9:
                best = (score, c, head, thresholds)
        _, self.c, self._head, thresholds = best
        self.thresholds = dict(zip(self.labels, thresholds))
        return self

    def predict_matrix(self, docs: Sequence[SpeechDoc]) -> np.ndarray:
        """Scores, speeches x ``self.labels``."""
        if self._head is None:
            raise AnnotatorError("fit the speech frames model before predicting")
        if not docs:
            return np.zeros((0, len(self.labels)), np.float32)
        return predict_heads(self._head, self.features(docs)).astype(np.float32)

    # ------------------------------------------------------------------ registry
    def save(self, scheme: str = "", scheme_hash: str = "", metrics: dict[str, Any] | None = None,
             root: Path | None = None, extra: dict[str, Any] | None = None) -> Path:
        from safetensors.numpy import save_file

        if self.encoder_dir is None or self._head is None:
            raise AnnotatorError("fit the speech frames model before saving it")
        name = new_version_name(KIND) + "-linear"
        final = version_dir(KIND, name, root)
        coef, intercept = self._head
        with building(final) as staging:
            save_file({"coef": coef, "intercept": intercept}, str(staging / WEIGHTS_FILE))
            write_meta(staging, ModelMeta(
                kind=KIND, version=name, base=encoder_reference(self.encoder_dir, root), method=self.method,
                scheme=scheme, scheme_hash=scheme_hash, labels=self.labels, thresholds=self.thresholds,
                metrics=metrics or {},
                extra={"c": self.c, "prefix": self.prefix, "max_length": self.max_length,
                       "features": "mean of the segments' sentence embeddings",
                       "encoder_dir": str(self.encoder_dir.resolve()), **(extra or {})}))
        return final

    @classmethod
    def load(cls, folder: Path | str, encoder_dir: Path | str | None = None,
             root: Path | None = None) -> "LinearSpeechFrames":
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta = read_saved(folder, cls.method, WEIGHTS_FILE)
        x = meta.extra
        model = cls(float(x.get("c") or C_GRID[0]), str(x.get("prefix", E5_QUERY_PREFIX)),
                    int(x.get("max_length", 128)))
        tensors = load_file(str(folder / WEIGHTS_FILE))
        model._head = (tensors["coef"], tensors["intercept"])
        model.labels, model.thresholds = list(meta.labels), dict(meta.thresholds)
        model.encoder_dir = Path(encoder_dir) if encoder_dir else find_encoder(meta, folder, root)
        return model

"""Frame suggestions by nearest neighbours over the base encoder's sentence embeddings.

With a few dozen labelled segments a fine-tuned head can overfit; a similarity-weighted vote of
the most similar labelled segments needs no training and improves with every accepted label.
The project compares both on held-out seed labels and keeps the better one.

Embeddings come from ``annotator.ml.embeddings`` (once per text and encoder, with a cache).
Saved as a registry version of kind ``frames`` with ``method="knn"``: ``embeddings.safetensors``
(the labelled segments' vectors and label matrix), ``labels.json`` and ``meta.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.embeddings import E5_QUERY_PREFIX, EmbeddingCache, embed_texts
from annotator.ml.examples import Example, data_hash
from annotator.metrics import apply_thresholds, label_matrix, tune_thresholds
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
from annotator.model_kinds import FRAMES
from annotator.thresholds import DEFAULT_THRESHOLD

EMBEDDINGS_FILE = "embeddings.safetensors"
LABELS_FILE = "labels.json"


class KnnFrameModel:
    """Multi-label frame scores: a similarity-weighted vote of the ``k`` nearest labelled segments.

    A neighbour's weight is ``exp((sim - best_sim) / temperature)``, so near-duplicates dominate
    and distant neighbours still count a little; a label's score is the weighted share of
    neighbours that carry it (0..1), comparable with a sigmoid score.
    """

    TRAINING_FORMAT = 1  # raise when fit() changes: versions trained before are then not reused

    def __init__(self, k: int = 10, temperature: float = 0.05, prefix: str = E5_QUERY_PREFIX,
                 max_length: int = 128) -> None:
        if k < 1 or temperature <= 0:
            raise ValueError(f"k must be >= 1 and temperature > 0 (got k={k}, temperature={temperature})")
        self.k, self.temperature, self.prefix, self.max_length = k, temperature, prefix, max_length
        self.labels: list[str] = []
        self.thresholds: dict[str, float] = {}
        self.encoder_dir: Path | None = None
        self.embeddings = np.zeros((0, 0), np.float32)
        self.label_matrix = np.zeros((0, 0), np.float32)
        self.ids: list[str] = []
        self.data_hash = ""
        self.embedding_cache: EmbeddingCache | None = None  # set by whoever holds the project
        self.engine: str | None = None  # the inference engine (None: the process's; "torch" pins PyTorch)

    def fit(self, examples: Sequence[Example], encoder_dir: Path | str,
            labels: Sequence[str] | None = None) -> "KnnFrameModel":
        """Embed the labelled examples; ``labels`` defaults to every frame they use, sorted."""
        if not examples:
            raise AnnotatorError("no labelled segments to learn from: label some segments first")
        self.labels = list(labels) if labels is not None else sorted({f for ex in examples for f in ex.frames})
        self.thresholds = {lab: DEFAULT_THRESHOLD for lab in self.labels}
        self.encoder_dir = Path(encoder_dir)
        self.embeddings = self.embed([ex.text for ex in examples])
        self.label_matrix = label_matrix((ex.frames for ex in examples), self.labels).astype(np.float32)
        self.ids = [ex.id for ex in examples]
        self.data_hash = data_hash(examples)
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence embeddings this model reads for ``texts`` (from its cache where it has one)."""
        if self.encoder_dir is None:
            raise AnnotatorError("the nearest-neighbour model has no encoder: call fit() or load() first")
        return embed_texts(self.encoder_dir, texts, self.prefix, self.max_length, cache=self.embedding_cache,
                           engine=self.engine)

    def predict_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Scores as an array (texts x labels), in ``self.labels`` order."""
        if not len(texts):
            return np.zeros((0, len(self.labels)), np.float32)
        sims = self.embed(texts) @ self.embeddings.T
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        weights = np.exp((top_sims - top_sims.max(axis=1, keepdims=True)) / self.temperature)
        votes = np.einsum("nk,nkl->nl", weights, self.label_matrix[top])
        return (votes / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """One ``{label: score}`` per text, every label present, in input order."""
        return [dict(zip(self.labels, map(float, row))) for row in self.predict_matrix(texts)]

    def tune_thresholds(self, dev: Sequence[Example]) -> dict[str, float]:
        """Per-label thresholds that maximise F1 on ``dev`` (kept on the model and returned)."""
        if dev:
            probs = self.predict_matrix([ex.text for ex in dev])
            y = label_matrix((ex.frames for ex in dev), self.labels)
            self.thresholds = dict(zip(self.labels, tune_thresholds(probs, y)))
        return dict(self.thresholds)

    def decide_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 decisions (texts x labels) under the current thresholds."""
        return apply_thresholds(self.predict_matrix(texts), [self.thresholds.get(l, DEFAULT_THRESHOLD) for l in self.labels])

    # ------------------------------------------------------------ registry

    def save(self, scheme: str = "", scheme_hash: str = "", metrics: dict[str, Any] | None = None,
             root: Path | None = None, version: str | None = None) -> Path:
        """Write a ``frames`` registry version (method ``knn``) and return its folder."""
        from safetensors.numpy import save_file

        if self.encoder_dir is None:
            raise AnnotatorError("fit the nearest-neighbour model before saving it")
        name = version or new_version_name(FRAMES) + "-knn"
        final = version_dir(FRAMES, name, root)
        with building(final) as staging:
            save_file({"embeddings": self.embeddings, "label_matrix": self.label_matrix},
                      str(staging / EMBEDDINGS_FILE))
            (staging / LABELS_FILE).write_text(
                json.dumps({"labels": self.labels, "ids": self.ids}, ensure_ascii=False) + "\n", encoding="utf-8")
            write_meta(staging, ModelMeta(
                kind=FRAMES, version=name, base=encoder_reference(self.encoder_dir, root), method="knn",
                scheme=scheme, scheme_hash=scheme_hash, labels=self.labels, thresholds=self.thresholds,
                data_hash=self.data_hash, metrics=metrics or {},
                extra={"k": self.k, "temperature": self.temperature, "prefix": self.prefix,
                       "max_length": self.max_length, "pooling": "mean", "encoder_dir": str(self.encoder_dir.resolve())},
            ))
        return final

    @classmethod
    def load(cls, folder: Path | str, encoder_dir: Path | str | None = None,
             root: Path | None = None) -> "KnnFrameModel":
        """Read a saved version; the encoder is ``encoder_dir`` or the one it was built with."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta = read_saved(folder, "knn", EMBEDDINGS_FILE)
        x = meta.extra
        model = cls(k=int(x.get("k", 10)), temperature=float(x.get("temperature", 0.05)),
                    prefix=str(x.get("prefix", E5_QUERY_PREFIX)), max_length=int(x.get("max_length", 128)))
        tensors = load_file(str(folder / EMBEDDINGS_FILE))
        model.embeddings, model.label_matrix = tensors["embeddings"], tensors["label_matrix"]
        model.labels = list(meta.labels)
        model.thresholds = dict(meta.thresholds)
        model.ids = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8")).get("ids", [])
        model.data_hash = meta.data_hash
        model.encoder_dir = Path(encoder_dir) if encoder_dir else find_encoder(meta, folder, root)
        return model

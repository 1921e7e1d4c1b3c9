"""Framing suggestions: a multi-label sequence classifier over segments.

The model is a saved registry version (``models/frames/<version>``): transformers weights with
``problem_type="multi_label_classification"``, its labels in ``config.id2label`` and the
per-label decision thresholds in ``meta.json``. Scores are independent sigmoids, so a segment
may carry several frames or none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.batching import inference_context, map_batched
from annotator.ml.delta import tokenizer_folder
from annotator.ml.loading import load_model, load_tokenizer, resolve_checkpoint
from annotator.ml.registry import ModelMeta, read_meta
from annotator.thresholds import DEFAULT_THRESHOLD, reaches

MAX_LENGTH = 256  # tokens, for checkpoints whose meta.json does not say what they were trained with


def read_meta_if_any(folder: Path) -> ModelMeta | None:
    """The folder's ``meta.json``, or None for a plain checkpoint that has none."""
    return read_meta(folder) if (folder / "meta.json").is_file() else None


def trained_max_length(meta: ModelMeta | None) -> int:
    """The token length a version was trained with (its predictor must cut texts the same way)."""
    value = (meta.extra or {}).get("max_length") if meta else None
    return int(value) if isinstance(value, int) and value > 0 else MAX_LENGTH


def model_labels(config: object, meta: ModelMeta | None) -> list[str]:
    """Label names by output index: the config's own ``id2label`` unless it holds only the
    generic ``LABEL_<n>`` names, in which case ``meta.labels`` names them."""
    id2label = {int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
    names = [id2label[i] for i in sorted(id2label)]
    generic = all(name == f"LABEL_{i}" for i, name in enumerate(names))
    if meta and meta.labels and (generic or not names):
        if names and len(meta.labels) != len(names):
            raise AnnotatorError(
                f"meta.json lists {len(meta.labels)} labels but the model has {len(names)} outputs; "
                "the folder mixes two model versions"
            )
        return list(meta.labels)
    return names


def decide(scores: Mapping[str, float], thresholds: Mapping[str, float], default: float = DEFAULT_THRESHOLD) -> list[str]:
    """The labels whose score reaches their threshold, highest score first."""
    chosen = [label for label, score in scores.items() if reaches(score, thresholds.get(label, default))]
    return sorted(chosen, key=lambda label: -scores[label])


class FrameClassifier:
    """Multi-label frame scores for segments: the one predictor of fine-tuned frames models.

    Suggestion, evaluation (test scores, "better than the previous version") and the dev
    figures during training all go through it, so every score is measured the same way:
    the same precision (:func:`inference_context`) and the version's own token length.
    """

    def __init__(self, folder: str | Path, max_length: int | None = None) -> None:
        from transformers import AutoModelForSequenceClassification

        self.folder: Path | None = resolve_checkpoint(folder)
        self.meta = read_meta_if_any(self.folder)
        self.model = load_model(
            self.folder, AutoModelForSequenceClassification, problem_type="multi_label_classification"
        )
        self.tokenizer = load_tokenizer(tokenizer_folder(self.folder))
        self.labels = model_labels(self.model.config, self.meta)
        self.thresholds = dict(self.meta.thresholds) if self.meta else {}
        self.max_length = max_length or trained_max_length(self.meta)

    @classmethod
    def in_memory(cls, model: Any, tokenizer: Any, labels: Sequence[str], max_length: int,
                  thresholds: Mapping[str, float] | None = None) -> "FrameClassifier":
        """The predictor over a model being trained (not saved yet)."""
        self = cls.__new__(cls)
        self.folder, self.meta = None, None
        self.model, self.tokenizer, self.labels = model, tokenizer, list(labels)
        self.thresholds, self.max_length = dict(thresholds or {}), max_length
        return self

    def predict(self, texts: Sequence[str], batch_size: int = 16) -> list[dict[str, float]]:
        """One ``{label: sigmoid score}`` per text, every label present, in input order."""
        return [dict(zip(self.labels, row)) for row in self.predict_matrix(texts, batch_size).tolist()]

    def predict_matrix(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """Sigmoid scores, texts × ``self.labels``."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        self.model.eval()
        return np.array(map_batched(list(texts), batch_size, self._predict_batch), dtype=np.float32)

    def decide(self, scores: Mapping[str, float]) -> list[str]:
        """The labels this version's thresholds accept for one text's scores."""
        return decide(scores, self.thresholds)

    def _predict_batch(self, texts: list[str]) -> list[dict[str, float]]:
        import torch

        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.model.device)
        with inference_context(self.model.device.type):
            logits = self.model(**enc).logits
        return torch.sigmoid(logits.float()).cpu().tolist()

"""Frame suggestions that train in seconds: class-weighted logistic regression (one per label)
over three views of a segment, combined and thresholded per label on dev.

* the base encoder's sentence embedding (multilingual: labels in one language help the others);
* its context: the mean embedding of the segments before and after it, and of its whole speech
  (``ml.context``; a segment given without context stands for itself);
* character n-gram TF-IDF (language-independent, strong on lexical cues such as "tax" or "战略").

Each view's head gives a probability per label; the model's score is their weighted mean, the
weights chosen on dev (a view that does not help gets weight 0). Saved as a registry version of
kind ``frames`` with ``method="linear"``:
the heads' weights and the TF-IDF idf in ``linear.safetensors``, its vocabulary in
``vocabulary.json`` — no pickles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.metrics import apply_thresholds, frame_scores_from_matrix, label_matrix, tune_thresholds
from annotator.ml.context import SegmentContext, context_vectors
from annotator.ml.embeddings import E5_QUERY_PREFIX, EmbeddingCache, embed_texts
from annotator.ml.examples import Example, data_hash
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

WEIGHTS_FILE = "linear.safetensors"
VOCABULARY_FILE = "vocabulary.json"
NGRAMS = (2, 4)
MAX_FEATURES = 60_000
VIEWS = ("embedding", "context", "ngrams")
C_GRID = (4.0, 16.0, 64.0)  # inverse regularisation of the embedding heads, chosen on dev
GRID_STEP = 0.25  # the views' weights are tried on this grid of the simplex (15 combinations)


MAX_CONTEXT_WEIGHT = 0.5  # a segment's own text keeps at least half the say: with context alone, every
# segment of a speech scores alike (dev chose that on a dozen segments of real news)


def _weight_grid(views: Sequence[str]) -> list[dict[str, float]]:
    steps = int(round(1 / GRID_STEP))
    if len(views) == 2:
        grid = [{views[0]: i / steps, views[1]: 1 - i / steps} for i in range(steps + 1)]
    else:
        grid = [{views[0]: i / steps, views[1]: j / steps, views[2]: (steps - i - j) / steps}
                for i in range(steps + 1) for j in range(steps + 1 - i)]
    return [w for w in grid if w.get("context", 0.0) <= MAX_CONTEXT_WEIGHT + 1e-9]


class LinearFrameModel:
    """Multi-label frame scores from logistic regression over embeddings, context and character n-grams."""

    TRAINING_FORMAT = 3  # raise when fit() changes: versions trained before are then not reused

    def __init__(self, c_embedding: float | None = None, c_ngrams: float = 8.0, prefix: str = E5_QUERY_PREFIX,
                 max_length: int = 128) -> None:
        """``c_embedding`` None: chosen on dev from ``C_GRID`` (the middle one without dev)."""
        self.c_embedding, self.c_ngrams, self.prefix, self.max_length = c_embedding, c_ngrams, prefix, max_length
        self.labels: list[str] = []
        self.thresholds: dict[str, float] = {}
        self.weights: dict[str, float] = {"embedding": 0.5, "ngrams": 0.5}
        self.encoder_dir: Path | None = None
        self.embedding_cache: EmbeddingCache | None = None  # set by whoever holds the project
        self.engine: str | None = None  # the inference engine (None: the process's; "torch" pins PyTorch)
        self.data_hash = ""
        self._heads: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # view -> (coef labels x features, intercept)
        self._vectorizer: Any = None

    @property
    def uses_context(self) -> bool:
        """Whether predict_matrix wants ``contexts`` (ml.context.predict_scores): only where dev
        gave the context view a weight, so that no one fetches speeches for nothing."""
        return bool(self.weights.get("context"))

    # ------------------------------------------------------------------ training
    def fit(self, examples: Sequence[Example], encoder_dir: Path | str, labels: Sequence[str] | None = None,
            dev: Sequence[Example] = ()) -> "LinearFrameModel":
        """Train the three heads on ``examples``; with ``dev``, choose the views' weights and the
        per-label thresholds there."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not examples:
            raise AnnotatorError("no labelled segments to learn from: label some segments first")
        self.labels = list(labels) if labels is not None else sorted({f for ex in examples for f in ex.frames})
        self.encoder_dir = Path(encoder_dir)
        texts = [ex.text for ex in examples]
        y = label_matrix((ex.frames for ex in examples), self.labels)
        self._vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAMS, sublinear_tf=True,
                                           min_df=2 if len(texts) >= 50 else 1, max_features=MAX_FEATURES)
        ngrams = self._vectorizer.fit_transform(texts)
        own = self.embed(texts)
        around = context_vectors(self.embed, texts, [ex.context for ex in examples], own)
        self.thresholds = {lab: DEFAULT_THRESHOLD for lab in self.labels}
        self._heads = {"ngrams": fit_heads(ngrams, y, self.c_ngrams)}
        chosen_c = self.c_embedding
        if chosen_c is None:
            chosen_c = self._choose_c(own, y, dev) if dev else C_GRID[len(C_GRID) // 2]
        self.c_embedding = chosen_c
        self._heads["embedding"] = fit_heads(own, y, chosen_c)
        self._heads["context"] = fit_heads(around, y, chosen_c)
        self.data_hash = data_hash(examples)
        if dev:
            self.tune(dev)
        return self

    def _choose_c(self, own: np.ndarray, y: np.ndarray, dev: Sequence[Example]) -> float:
        """The embedding head's regularisation that scores best on dev (its view alone)."""
        dev_own = self.embed([ex.text for ex in dev])
        dev_y = label_matrix((ex.frames for ex in dev), self.labels)
        best = (-1.0, C_GRID[0])
        for c in C_GRID:
            probs = predict_heads(fit_heads(own, y, c), dev_own)
            score = frame_scores_from_matrix(dev_y, apply_thresholds(probs, tune_thresholds(probs, dev_y)),
                                             self.labels)["micro_f1"]
            if score > best[0] + 1e-9:
                best = (score, c)
        return best[1]

    def tune(self, dev: Sequence[Example]) -> dict[str, float]:
        """The views' weights and per-label thresholds that maximise micro-F1 on ``dev``."""
        texts = [ex.text for ex in dev]
        y = label_matrix((ex.frames for ex in dev), self.labels)
        views = self._views(texts, [ex.context for ex in dev])
        best = (-1.0, self.weights, [DEFAULT_THRESHOLD] * len(self.labels))
        for weights in _weight_grid([v for v in VIEWS if v in views]):
            probs = sum(w * views[v] for v, w in weights.items())
            thresholds = tune_thresholds(probs, y)
            score = frame_scores_from_matrix(y, apply_thresholds(probs, thresholds), self.labels)["micro_f1"]
            if score > best[0] + 1e-9:
                best = (score, weights, thresholds)
        _, self.weights, thresholds = best
        self.thresholds = dict(zip(self.labels, thresholds))
        return dict(self.thresholds)

    # ---------------------------------------------------------------- prediction
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence embeddings this model reads for ``texts`` (from its cache where it has one)."""
        if self.encoder_dir is None:
            raise AnnotatorError("the linear frames model has no encoder: call fit() or load() first")
        return embed_texts(self.encoder_dir, texts, self.prefix, self.max_length, cache=self.embedding_cache,
                           engine=self.engine)

    def _views(self, texts: Sequence[str], contexts: Sequence[SegmentContext | None] | None = None,
               only: set[str] | None = None) -> dict[str, np.ndarray]:
        """Each view's probabilities (``only`` those views, if given: a view weighted 0 costs nothing)."""
        wanted = set(self._heads) if only is None else only & set(self._heads)
        own = self.embed(texts) if wanted & {"embedding", "context"} else None
        views = {}
        if "embedding" in wanted:
            views["embedding"] = predict_heads(self._heads["embedding"], own)
        if "ngrams" in wanted:
            views["ngrams"] = predict_heads(self._heads["ngrams"], self._vectorizer.transform(list(texts)))
        if "context" in wanted:  # versions saved before context was a view have none
            views["context"] = predict_heads(self._heads["context"],
                                              context_vectors(self.embed, texts, contexts, own))
        return views

    def predict_matrix(self, texts: Sequence[str],
                       contexts: Sequence[SegmentContext | None] | None = None) -> np.ndarray:
        """Scores as an array (texts x labels), in ``self.labels`` order; ``contexts`` (one per
        text, or None) place each segment in its speech."""
        if not len(texts):
            return np.zeros((0, len(self.labels)), np.float32)
        weights = {v: w for v, w in self.weights.items() if w}
        if not weights:
            return np.zeros((len(texts), len(self.labels)), np.float32)
        views = self._views(texts, contexts, only=set(weights))
        return sum(w * views[v] for v, w in weights.items()).astype(np.float32)

    def predict(self, texts: Sequence[str],
                contexts: Sequence[SegmentContext | None] | None = None) -> list[dict[str, float]]:
        """One ``{label: score}`` per text, every label present, in input order."""
        return [dict(zip(self.labels, map(float, row))) for row in self.predict_matrix(texts, contexts)]

    # ------------------------------------------------------------------ registry
    def save(self, scheme: str = "", scheme_hash: str = "", metrics: dict[str, Any] | None = None,
             root: Path | None = None, version: str | None = None, dev_metrics: dict[str, Any] | None = None,
             base: str = "") -> Path:
        from safetensors.numpy import save_file

        if self.encoder_dir is None or not self._heads:
            raise AnnotatorError("fit the linear frames model before saving it")
        name = version or new_version_name(FRAMES) + "-linear"
        final = version_dir(FRAMES, name, root)
        tensors = {"idf": self._vectorizer.idf_.astype(np.float32)}
        for view, (coef, intercept) in self._heads.items():
            tensors[f"{view}.coef"], tensors[f"{view}.intercept"] = coef, intercept
        with building(final) as staging:
            save_file(tensors, str(staging / WEIGHTS_FILE))
            vocabulary = {k: int(v) for k, v in self._vectorizer.vocabulary_.items()}
            (staging / VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
            write_meta(staging, ModelMeta(
                kind=FRAMES, version=name, base=base or encoder_reference(self.encoder_dir, root), method="linear", scheme=scheme,
                scheme_hash=scheme_hash, labels=self.labels, thresholds=self.thresholds, data_hash=self.data_hash,
                metrics=metrics or {},
                extra={"weights": self.weights, "ngrams": list(NGRAMS), "analyzer": "char_wb", "prefix": self.prefix,
                       "max_length": self.max_length, "c_embedding": self.c_embedding, "c_ngrams": self.c_ngrams,
                       "encoder_dir": str(self.encoder_dir.resolve()), "dev_metrics": dev_metrics or {}},
            ))
        return final

    @classmethod
    def load(cls, folder: Path | str, encoder_dir: Path | str | None = None,
             root: Path | None = None) -> "LinearFrameModel":
        from safetensors.numpy import load_file
        from sklearn.feature_extraction.text import TfidfVectorizer

        folder = Path(folder)
        meta = read_saved(folder, "linear", WEIGHTS_FILE)
        x = meta.extra
        model = cls(float(x.get("c_embedding") or 4.0), float(x.get("c_ngrams", 8.0)),
                    str(x.get("prefix", E5_QUERY_PREFIX)), int(x.get("max_length", 128)))
        tensors = load_file(str(folder / WEIGHTS_FILE))
        model._heads = {view: (tensors[f"{view}.coef"], tensors[f"{view}.intercept"])
                        for view in VIEWS if f"{view}.coef" in tensors}
        vocabulary = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))
        model._vectorizer = TfidfVectorizer(analyzer=str(x.get("analyzer", "char_wb")),
                                            ngram_range=tuple(x.get("ngrams", NGRAMS)), sublinear_tf=True,
                                            vocabulary=vocabulary)
        model._vectorizer.idf_ = tensors["idf"].astype(np.float64)
        model.labels, model.thresholds = list(meta.labels), dict(meta.thresholds)
        if "weights" in x:
            model.weights = {str(k): float(v) for k, v in x["weights"].items()}
        else:  # saved before context: the embedding head's share
            weight = float(x.get("weight", 0.5))
            model.weights = {"embedding": weight, "ngrams": 1 - weight}
        model.data_hash = meta.data_hash
        model.encoder_dir = Path(encoder_dir) if encoder_dir else find_encoder(meta, folder, root)
        return model


def fit_heads(features: Any, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One class-weighted logistic regression per label; a label no example carries (or every
    one does) gets a constant head."""
    from sklearn.linear_model import LogisticRegression

    n_features = features.shape[1]
    coef = np.zeros((y.shape[1], n_features), np.float32)
    intercept = np.zeros(y.shape[1], np.float32)
    for j in range(y.shape[1]):
        positives = int(y[:, j].sum())
        if positives == 0 or positives == y.shape[0]:
            intercept[j] = -20.0 if positives == 0 else 20.0
            continue
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, solver="liblinear")
        clf.fit(features, y[:, j])
        coef[j], intercept[j] = clf.coef_[0], clf.intercept_[0]
    return coef, intercept


def predict_heads(head: tuple[np.ndarray, np.ndarray], features: Any) -> np.ndarray:
    coef, intercept = head
    logits = np.asarray(features @ coef.T) + intercept
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

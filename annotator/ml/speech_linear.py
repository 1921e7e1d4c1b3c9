"""A speech-level frames model that reads the whole speech: class-weighted logistic regression
(one per label) over three views of it, their probabilities blended, trained on speech-level gold.

* ``words``: word uni- and bigram TF-IDF of the whole text (what a lexical baseline has);
* ``chars``: character 2–5-gram TF-IDF within word boundaries (inflection, compounds, and
  scripts without spaces);
* ``embedding``: the speech's segment embeddings (the ones the segment models use, so a
  project that keeps them embeds nothing twice) as their mean, their maximum (a few strongly
  framed sentences make a speech's frame) and the mean of its opening segments (the lead).

With enough labelled speeches, every choice is made by cross-validation over the train and dev
speeches together (``FOLDS`` folds, out-of-fold scores): each view's regularisation, the views'
weights, and per-label thresholds shrunk toward a shared one (``metrics.tune_thresholds``).
The heads are then fitted on all of them. On the small dev side of a young project (a dozen
speeches), a threshold tuned there alone swings with one speech; out-of-fold scores over five
times as many speeches do not. Fewer speeches than ``MIN_CV_SPEECHES``: fitted on train,
tuned on dev.

Saved as a registry version of kind ``speech_frames`` with ``method="linear"``:
``speech_linear.safetensors`` (heads, idf), ``vocabulary.json`` (the two TF-IDF vocabularies)
and ``meta.json`` — no pickles. Versions saved before the views (one head over the mean
embedding) still load and predict as they did.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.metrics import apply_thresholds, frame_scores_from_matrix, label_matrix, tune_thresholds
from annotator.ml.embeddings import E5_QUERY_PREFIX, EmbeddingCache, embed_texts
from annotator.ml.linear import fit_heads, predict_heads
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
VOCABULARY_FILE = "vocabulary.json"
VIEWS = ("words", "chars", "embedding")
LEGACY_VIEW = "mean"  # versions of TRAINING_FORMAT 1: one head over the mean segment embedding
C_GRID = (4.0, 16.0, 64.0)  # inverse regularisation, chosen per view
WEIGHT_STEPS = (0, 1, 2, 3)  # each view's weight in the blend (not all 0)
FOLDS = 4
MIN_CV_SPEECHES = 20  # train + dev speeches before choices are made by cross-validation
OPENING = 3  # the segments that make a speech's opening
SEED = 0
# The commonest n-grams only: on a few hundred speeches, liblinear took 55 s a fold for the 14
# labels over 20,000 character n-grams and 5 s over 5,000, for no better a score.
TFIDF = {
    "words": {"analyzer": "word", "ngram_range": (1, 2), "max_features": 10_000},
    "chars": {"analyzer": "char_wb", "ngram_range": (2, 5), "max_features": 5_000},
}


def speech_text(doc: SpeechDoc) -> str:
    """The whole text of a speech, as its TF-IDF views read it."""
    return "\n".join(doc.segments)


class LinearSpeechFrames:
    """Frame scores for whole speeches from their words, character n-grams and segment embeddings."""

    method = "linear"
    TRAINING_FORMAT = 2  # raise when fit() changes: versions trained before are then not reused

    def __init__(self, prefix: str = E5_QUERY_PREFIX, max_length: int = 128) -> None:
        self.prefix, self.max_length = prefix, max_length
        self.labels: list[str] = []
        self.thresholds: dict[str, float] = {}
        self.weights: dict[str, float] = {}
        self.cs: dict[str, float] = {}
        self.chosen_by = ""  # "cross-validation on N speeches" or "dev"
        self.cv_metrics: dict[str, Any] = {}  # out-of-fold scores over train + dev, where chosen so
        self.encoder_dir: Path | None = None
        self.embedding_cache: EmbeddingCache | None = None  # set by whoever holds the project
        self.engine: str | None = None  # the inference engine (None: the process's; "torch" pins PyTorch)
        self._heads: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._vectorizers: dict[str, Any] = {}

    # ------------------------------------------------------------------ features
    def _embeddings(self, docs: Sequence[SpeechDoc]) -> list[np.ndarray]:
        """Each speech's segment embeddings (every distinct text embedded once)."""
        if self.encoder_dir is None:
            raise AnnotatorError("the speech frames model has no encoder: call fit() or load() first")
        texts = list(dict.fromkeys(t for d in docs for t in d.segments))
        vectors = embed_texts(self.encoder_dir, texts, self.prefix, self.max_length, cache=self.embedding_cache,
                              engine=self.engine)
        index = {t: i for i, t in enumerate(texts)}
        return [vectors[[index[t] for t in d.segments]] if d.segments else np.zeros((0, vectors.shape[1]), np.float32)
                for d in docs]

    def _features(self, docs: Sequence[SpeechDoc], views: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for view in views & set(TFIDF):
            out[view] = self._vectorizers[view].transform([speech_text(d) for d in docs])
        if views & {"embedding", LEGACY_VIEW}:
            per_doc = self._embeddings(docs)
            width = per_doc[0].shape[1] if per_doc else 0
            rows = []
            for vectors in per_doc:
                if not len(vectors):
                    rows.append(np.zeros(3 * width, np.float32))
                    continue
                rows.append(np.concatenate([_unit(vectors.mean(axis=0)), vectors.max(axis=0),
                                            _unit(vectors[:OPENING].mean(axis=0))]))
            matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, 3 * width), np.float32)
            if "embedding" in views:
                out["embedding"] = matrix
            if LEGACY_VIEW in views:
                out[LEGACY_VIEW] = matrix[:, :width]
        return out

    # ------------------------------------------------------------------ training
    def fit(self, train: Sequence[SpeechDoc], encoder_dir: Path | str, labels: Sequence[str],
            dev: Sequence[SpeechDoc] = ()) -> "LinearSpeechFrames":
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not train:
            raise AnnotatorError("no speeches with speech-level frames to learn from")
        self.labels, self.encoder_dir = list(labels), Path(encoder_dir)
        docs = [*train, *dev]
        cross_validate = len(docs) >= MIN_CV_SPEECHES
        fitting = docs if cross_validate else list(train)
        self._vectorizers = {view: TfidfVectorizer(sublinear_tf=True, min_df=2 if len(fitting) >= 50 else 1,
                                                   **settings) for view, settings in TFIDF.items()}
        texts = [speech_text(d) for d in fitting]
        for vectorizer in self._vectorizers.values():
            vectorizer.fit(texts)  # the vocabulary and idf read no label: one fit serves every fold
        x = self._features(fitting, set(VIEWS))
        y = label_matrix((d.frames for d in fitting), self.labels)
        if cross_validate:
            folds = _folds(len(fitting), FOLDS)
            self.chosen_by = f"cross-validation on {len(fitting)} train and dev speeches"
            probs = self._choose(x, y, lambda c, view: _out_of_fold(x[view], y, c, folds))
        elif dev:
            dev_x = self._features(dev, set(VIEWS))
            dev_y = label_matrix((d.frames for d in dev), self.labels)
            self.chosen_by = f"{len(dev)} dev speeches"
            probs = self._choose(dev_x, dev_y, lambda c, view: predict_heads(fit_heads(x[view], y, c), dev_x[view]))
            y = dev_y
        else:
            self.chosen_by = "defaults (no dev speech)"
            self.cs = {view: C_GRID[1] for view in VIEWS}
            self.weights = {view: 1.0 for view in VIEWS}
            probs = None
        if probs is not None:
            thresholds = tune_thresholds(probs, y)
            self.thresholds = dict(zip(self.labels, thresholds))
            if cross_validate:
                self.cv_metrics = frame_scores_from_matrix(y, apply_thresholds(probs, thresholds), self.labels)
        else:
            self.thresholds = {lab: DEFAULT_THRESHOLD for lab in self.labels}
        self._heads = {view: fit_heads(x[view], label_matrix((d.frames for d in fitting), self.labels), self.cs[view])
                       for view, weight in self.weights.items() if weight}
        return self

    def _choose(self, x: dict[str, Any], y: np.ndarray, scores: Any) -> np.ndarray:
        """Each view's C, then the views' weights, by micro-F1 of the blended probabilities that
        ``scores(c, view)`` gives on held-out speeches; returns the chosen blend's probabilities."""
        per_view: dict[str, np.ndarray] = {}
        for view in VIEWS:
            best: tuple[float, float, np.ndarray] | None = None
            for c in C_GRID:
                probs = scores(c, view)
                f1 = _micro(y, probs, self.labels)
                if best is None or f1 > best[0] + 1e-9:
                    best = (f1, c, probs)
            assert best is not None
            self.cs[view], per_view[view] = best[1], best[2]
        best_blend: tuple[float, dict[str, float], np.ndarray] | None = None
        for steps in itertools.product(WEIGHT_STEPS, repeat=len(VIEWS)):
            if not any(steps):
                continue
            weights = {view: float(w) / sum(steps) for view, w in zip(VIEWS, steps)}
            probs = sum(w * per_view[v] for v, w in weights.items() if w)
            f1 = _micro(y, probs, self.labels)
            if best_blend is None or f1 > best_blend[0] + 1e-9:
                best_blend = (f1, weights, probs)
        assert best_blend is not None
        self.weights = best_blend[1]
        return best_blend[2]

    # ---------------------------------------------------------------- prediction
    def predict_matrix(self, docs: Sequence[SpeechDoc]) -> np.ndarray:
        """Scores, speeches x ``self.labels``."""
        if not self._heads:
            raise AnnotatorError("fit the speech frames model before predicting")
        if not docs:
            return np.zeros((0, len(self.labels)), np.float32)
        weights = {v: w for v, w in self.weights.items() if w and v in self._heads}
        x = self._features(docs, set(weights))
        return sum(w * predict_heads(self._heads[v], x[v]) for v, w in weights.items()).astype(np.float32)

    # ------------------------------------------------------------------ registry
    def save(self, scheme: str = "", scheme_hash: str = "", metrics: dict[str, Any] | None = None,
             root: Path | None = None, extra: dict[str, Any] | None = None) -> Path:
        from safetensors.numpy import save_file

        if self.encoder_dir is None or not self._heads:
            raise AnnotatorError("fit the speech frames model before saving it")
        name = new_version_name(KIND) + "-linear"
        final = version_dir(KIND, name, root)
        tensors: dict[str, np.ndarray] = {}
        for view, (coef, intercept) in self._heads.items():
            tensors[f"{view}.coef"], tensors[f"{view}.intercept"] = coef, intercept
        vocabularies = {}
        for view, vectorizer in self._vectorizers.items():
            tensors[f"{view}.idf"] = vectorizer.idf_.astype(np.float32)
            vocabularies[view] = {k: int(v) for k, v in vectorizer.vocabulary_.items()}
        with building(final) as staging:
            save_file(tensors, str(staging / WEIGHTS_FILE))
            (staging / VOCABULARY_FILE).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
            write_meta(staging, ModelMeta(
                kind=KIND, version=name, base=encoder_reference(self.encoder_dir, root), method=self.method,
                scheme=scheme, scheme_hash=scheme_hash, labels=self.labels, thresholds=self.thresholds,
                metrics=metrics or {},
                extra={"format": self.TRAINING_FORMAT, "weights": self.weights, "cs": self.cs,
                       "chosen_by": self.chosen_by, "cv_metrics": _summary(self.cv_metrics),
                       "tfidf": {v: {k: list(s) if isinstance(s, tuple) else s for k, s in t.items()}
                                 for v, t in TFIDF.items()},
                       "opening": OPENING, "prefix": self.prefix, "max_length": self.max_length,
                       "features": "word and character n-gram TF-IDF of the whole text; the mean, maximum and "
                                   "opening of the segments' sentence embeddings",
                       "encoder_dir": str(self.encoder_dir.resolve()), **(extra or {})}))
        return final

    @classmethod
    def load(cls, folder: Path | str, encoder_dir: Path | str | None = None,
             root: Path | None = None) -> "LinearSpeechFrames":
        from safetensors.numpy import load_file
        from sklearn.feature_extraction.text import TfidfVectorizer

        folder = Path(folder)
        meta = read_saved(folder, cls.method, WEIGHTS_FILE)
        x = meta.extra
        model = cls(str(x.get("prefix", E5_QUERY_PREFIX)), int(x.get("max_length", 128)))
        tensors = load_file(str(folder / WEIGHTS_FILE))
        if "coef" in tensors:  # saved before the views: one head over the mean segment embedding
            model._heads = {LEGACY_VIEW: (tensors["coef"], tensors["intercept"])}
            model.weights = {LEGACY_VIEW: 1.0}
        else:
            model._heads = {v: (tensors[f"{v}.coef"], tensors[f"{v}.intercept"]) for v in VIEWS if f"{v}.coef" in tensors}
            model.weights = {str(k): float(v) for k, v in (x.get("weights") or {}).items()}
            model.cs = {str(k): float(v) for k, v in (x.get("cs") or {}).items()}
            vocabularies = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))
            for view, settings in (x.get("tfidf") or {}).items():
                if view not in vocabularies:
                    continue
                vectorizer = TfidfVectorizer(sublinear_tf=True, analyzer=settings["analyzer"],
                                             ngram_range=tuple(settings["ngram_range"]), vocabulary=vocabularies[view])
                vectorizer.idf_ = tensors[f"{view}.idf"].astype(np.float64)
                model._vectorizers[view] = vectorizer
        model.chosen_by = str(x.get("chosen_by", ""))
        model.cv_metrics = dict(x.get("cv_metrics") or {})
        model.labels, model.thresholds = list(meta.labels), dict(meta.thresholds)
        model.encoder_dir = Path(encoder_dir) if encoder_dir else find_encoder(meta, folder, root)
        return model


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def _micro(y: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> float:
    """Micro-F1 of ``probs`` at thresholds tuned on the same scores (how a view or blend compares)."""
    return frame_scores_from_matrix(y, apply_thresholds(probs, tune_thresholds(probs, y)), labels)["micro_f1"]


def _folds(n: int, k: int) -> list[np.ndarray]:
    """``k`` folds of ``range(n)``, shuffled with a fixed seed (the same folds every run)."""
    order = np.random.default_rng(SEED).permutation(n)
    return [order[i::k] for i in range(min(k, n))]


def _out_of_fold(x: Any, y: np.ndarray, c: float, folds: Sequence[np.ndarray]) -> np.ndarray:
    """Each speech's probabilities from heads fitted without its fold (folds fitted side by side:
    liblinear lets go of the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from annotator.ml.engine import threads

    out = np.zeros(y.shape, np.float64)

    def one(fold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = np.setdiff1d(np.arange(y.shape[0]), fold)
        return fold, predict_heads(fit_heads(x[keep], y[keep], c), x[fold])

    with ThreadPoolExecutor(max_workers=max(1, min(threads(), len(folds)))) as pool:
        for fold, probs in pool.map(one, folds):
            out[fold] = probs
    return out


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "per_label"}

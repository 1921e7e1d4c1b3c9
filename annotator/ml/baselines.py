"""What a frames model must beat to be worth suggesting: a majority baseline and a TF-IDF +
logistic regression baseline (scikit-learn), trained and scored on the same split as the model.

Both answer ``predict_matrix(texts)`` and carry ``labels`` and ``thresholds`` like the real
models, so ``annotator.ml.train.evaluate_frames`` scores them the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from annotator.metrics import label_matrix, tune_thresholds
from annotator.ml.examples import Example


class MajorityFrames:
    """Every segment gets the frame most training segments carry."""

    name = "majority"

    def fit(self, train: Sequence[Example], labels: Sequence[str]) -> "MajorityFrames":
        self.labels = list(labels)
        counts = Counter(f for ex in train for f in ex.frames if f in self.labels)
        self.top = counts.most_common(1)[0][0] if counts else None
        self.thresholds = {lab: 0.5 for lab in self.labels}
        return self

    def predict_matrix(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), np.float32)
        if self.top is not None:
            out[:, self.labels.index(self.top)] = 1.0
        return out


class TfidfFrames:
    """Word and character n-gram TF-IDF, one class-weighted logistic regression per label,
    thresholds tuned on dev (the usual strong lexical baseline)."""

    name = "tfidf+logreg"

    def fit(self, train: Sequence[Example], labels: Sequence[str], dev: Sequence[Example] = ()) -> "TfidfFrames":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        self.labels = list(labels)
        self.vectorizer: Any = FeatureUnion([
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1)),
        ])
        x = self.vectorizer.fit_transform([ex.text for ex in train])
        y = label_matrix((ex.frames for ex in train), self.labels)
        self.heads = []
        for j in range(len(self.labels)):
            positives = int(y[:, j].sum())
            if positives in (0, len(train)):
                self.heads.append(float(positives > 0))
                continue
            from sklearn.linear_model import LogisticRegression

            self.heads.append(LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(x, y[:, j]))
        self.thresholds = {lab: 0.5 for lab in self.labels}
        if dev:
            probs = self.predict_matrix([ex.text for ex in dev])
            self.thresholds = dict(zip(self.labels, tune_thresholds(probs, label_matrix((ex.frames for ex in dev),
                                                                                          self.labels))))
        return self

    def predict_matrix(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, len(self.labels)), np.float32)
        x = self.vectorizer.transform(list(texts))
        cols = [np.full(len(texts), head, np.float32) if isinstance(head, float) else head.predict_proba(x)[:, 1]
                for head in self.heads]
        return np.stack(cols, axis=1).astype(np.float32)

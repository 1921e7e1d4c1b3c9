"""What a model must beat to be worth suggesting, trained and scored on the same split as the model.

Frames: a majority baseline and a TF-IDF + logistic regression baseline (scikit-learn); both
answer ``predict_matrix(texts)`` and carry ``labels`` and ``thresholds`` like the real models, so
``annotator.ml.scoring.evaluate_frames`` scores them the same way. Slogan spans: the known
formulations alone, and every short quotation; both answer ``predict_tuples(texts)`` with
``span_labels`` like the taggers, for ``ml.scoring.evaluate_spans``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from annotator.metrics import label_matrix, tune_thresholds
from annotator.ml.examples import Example
from annotator.schemes import DEFAULT_SPAN_LABEL
from annotator.thresholds import DEFAULT_THRESHOLD


def item_text(item: Any) -> str:
    """What a lexical baseline reads of an item: a segment's text, or a whole speech's
    (``ml.speech_frames.SpeechDoc``: its segments, one a line)."""
    if isinstance(item, str):
        return item
    text = getattr(item, "text", None)
    return text if isinstance(text, str) else "\n".join(getattr(item, "segments", ()))


class MajorityFrames:
    """Every item gets the ``k`` frames most training items carry, ``k`` chosen on train (the
    count that scores best there): a user's simplest rule. For segments, mostly one frame; for
    whole speeches, which carry four or five, the three or four commonest."""

    name = "majority"

    def fit(self, train: Sequence[Any], labels: Sequence[str]) -> "MajorityFrames":
        from annotator.metrics import frame_scores_from_matrix

        self.labels = list(labels)
        counts = Counter(f for ex in train for f in ex.frames if f in self.labels)
        ranked = [lab for lab, _ in counts.most_common()]
        y = label_matrix((ex.frames for ex in train), self.labels)
        self.top: list[str] = ranked[:1]
        best = -1.0
        for k in range(1, len(ranked) + 1):
            pred = np.zeros_like(y)
            pred[:, [self.labels.index(lab) for lab in ranked[:k]]] = 1
            score = frame_scores_from_matrix(y, pred, self.labels)["micro_f1"]
            if score > best + 1e-9:
                best, self.top = score, ranked[:k]
        self.thresholds = {lab: DEFAULT_THRESHOLD for lab in self.labels}
        return self

    @property
    def k(self) -> int:
        return len(self.top)

    def predict_matrix(self, items: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(items), len(self.labels)), np.float32)
        for lab in self.top:
            out[:, self.labels.index(lab)] = 1.0
        return out


class TfidfFrames:
    """Word and character n-gram TF-IDF, one class-weighted logistic regression per label,
    thresholds tuned on dev (the usual strong lexical baseline), over segments or over whole
    speeches (:func:`item_text`)."""

    name = "tfidf+logreg"

    def fit(self, train: Sequence[Any], labels: Sequence[str], dev: Sequence[Any] = ()) -> "TfidfFrames":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        self.labels = list(labels)
        self.vectorizer: Any = FeatureUnion([
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=1)),
        ])
        x = self.vectorizer.fit_transform([item_text(ex) for ex in train])
        y = label_matrix((ex.frames for ex in train), self.labels)
        self.heads = []
        for j in range(len(self.labels)):
            positives = int(y[:, j].sum())
            if positives in (0, len(train)):
                self.heads.append(float(positives > 0))
                continue
            from sklearn.linear_model import LogisticRegression

            self.heads.append(LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(x, y[:, j]))
        self.thresholds = {lab: DEFAULT_THRESHOLD for lab in self.labels}
        if dev:
            probs = self.predict_matrix(list(dev))
            self.thresholds = dict(zip(self.labels, tune_thresholds(probs, label_matrix((ex.frames for ex in dev),
                                                                                          self.labels))))
        return self

    def predict_matrix(self, items: Sequence[Any]) -> np.ndarray:
        """Scores (items x labels) for texts, segments or whole speeches."""
        texts = [item_text(item) for item in items]
        if not texts:
            return np.zeros((0, len(self.labels)), np.float32)
        x = self.vectorizer.transform(texts)
        cols = [np.full(len(texts), head, np.float32) if isinstance(head, float) else head.predict_proba(x)[:, 1]
                for head in self.heads]
        return np.stack(cols, axis=1).astype(np.float32)


# ------------------------------------------------------------------------------- spans
class KnownFormulationSpans:
    """Slogans are the known formulations and nothing else: the glossary's phrases and those
    annotators marked in the train and dev speeches, wherever they occur (``ml.known``)."""

    name = "known formulations"

    def fit(self, train: Sequence[Example], span_labels: Sequence[str], glossary: Sequence[str] = (),
            dev: Sequence[Example] = (), glossary_label: str = DEFAULT_SPAN_LABEL) -> "KnownFormulationSpans":
        from annotator.ml.known import KnownFormulations

        self.labels = list(span_labels)
        label = glossary_label if glossary_label in self.labels else (self.labels or [glossary_label])[0]
        marked = [(ex.text[s:e], lab, ex.group or ex.id) for ex in [*train, *dev] for s, e, lab in ex.spans
                  if lab in self.labels]
        self.known = KnownFormulations.build(glossary, label, marked)
        return self

    @property
    def span_labels(self) -> set[str]:
        return set(self.labels)

    def predict_tuples(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        return [self.known.matches(text) for text in texts]


# opening → closing quotation marks, as written in the demo's languages
QUOTES = {"“": "”", '"': '"', "«": "»", "„": "“", "「": "」", "『": "』", "‘": "’", "‹": "›", "»": "«"}
QUOTED_MAX_WORDS, QUOTED_MAX_CHARS_UNSPACED = 8, 20


class QuotationSpans:
    """Every short quoted phrase is a slogan (up to 8 words, or 20 characters in Chinese and
    Japanese): what a reader marks first, and a baseline that a tagger must beat."""

    name = "short quotations"

    def __init__(self, label: str = DEFAULT_SPAN_LABEL) -> None:
        self.labels = [label]

    @property
    def span_labels(self) -> set[str]:
        return set(self.labels)

    def predict_tuples(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        from annotator.text import is_unspaced, trimmed_phrase

        out = []
        for text in texts:
            found, i = [], 0
            while i < len(text):
                close = QUOTES.get(text[i])
                end = text.find(close, i + 1) if close else -1
                if end == -1:
                    i += 1
                    continue
                start, stop = trimmed_phrase(text, i + 1, end)
                inner = text[start:stop]
                unspaced = any(is_unspaced(ch) for ch in inner)
                if inner and (len(inner) <= QUOTED_MAX_CHARS_UNSPACED if unspaced
                              else len(inner.split()) <= QUOTED_MAX_WORDS):
                    found.append((start, stop, self.labels[0]))
                i = end + 1
            out.append(found)
        return out

"""The one way each kind of model is scored on items: a predictor (a saved version, one in memory
before saving, or a baseline) through the very predictor that makes its suggestions, with its
own labels and thresholds. Training, the engine checks, the report and the versions table all
score here; which items (the train/dev/test sides of each kind) is ``services.evaluation.sides``.

* :func:`evaluate_frames`: segments (``Example``), micro/macro F1 and per label;
* :func:`evaluate_spans`: segments, exact and partial-overlap span scores, every segment
  counted (one without a slogan too: a span suggested there is a false positive), each
  segment's speech passed to a tagger that limits its spans per speech, as suggestion does;
* :func:`evaluate_speech_frames`: whole speeches (``SpeechDoc``), micro/macro F1 and per label.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from annotator.metrics import apply_thresholds, frame_scores_from_matrix, label_matrix, span_scores
from annotator.ml.context import predict_scores
from annotator.ml.examples import Example
from annotator.ml.speech_frames import SpeechDoc
from annotator.ml.train import TrainResult, frame_predictor, span_predictor
from annotator.thresholds import DEFAULT_THRESHOLD


def evaluate_frames(model: Path | str | TrainResult | Any, examples: Sequence[Example]) -> dict[str, Any]:
    """Frame scores (micro/macro F1, per label) of a version, saved or in memory, through the
    very predictor that makes its suggestions, with its own labels and thresholds."""
    predictor = frame_predictor(model)
    labels = predictor.labels
    probs = predict_scores(predictor, [ex.text for ex in examples], [ex.context for ex in examples])
    thresholds = [predictor.thresholds.get(lab, DEFAULT_THRESHOLD) for lab in labels]
    y_true = label_matrix((ex.frames for ex in examples), labels)
    return frame_scores_from_matrix(y_true, apply_thresholds(probs, thresholds), labels)


def speech_of(example: Example) -> str:
    """The speech a segment belongs to (the segment itself where it names none)."""
    return example.group or example.id


def predict_spans(tagger: Any, examples: Sequence[Example]) -> list[list[tuple[int, int, str]]]:
    """Each example's spans as (start, end, label), each example's speech given to a tagger that
    takes it (the quick tagger's limit of spans per speech), as suggestion gives it."""
    texts = [ex.text for ex in examples]
    if "groups" in inspect.signature(tagger.predict_tuples).parameters:
        return tagger.predict_tuples(texts, groups=[speech_of(ex) for ex in examples])
    return tagger.predict_tuples(texts)


def evaluate_spans(model: Path | str | TrainResult | Any, examples: Sequence[Example]) -> dict[str, Any]:
    """Exact and partial-overlap span scores of a version, through the predictor suggestion uses;
    overall (with the number of speeches the examples come from) and per language."""
    tagger = span_predictor(model)
    pred = predict_spans(tagger, examples)
    known = tagger.span_labels
    gold = [[s for s in ex.spans if s[2] in known] for ex in examples]
    scores = span_scores(gold, pred)
    # every segment counts, those without a slogan too: a span suggested there is a false positive
    scores["n_without_spans"] = sum(1 for g in gold if not g)
    scores["n_speeches"] = len({speech_of(ex) for ex in examples})
    scores["per_language"] = {}
    for lang in sorted({ex.language for ex in examples}):
        rows = [i for i, ex in enumerate(examples) if ex.language == lang]
        found = span_scores([gold[i] for i in rows], [pred[i] for i in rows])
        found.pop("per_label", None)
        scores["per_language"][lang] = found
    return scores


def evaluate_speech_frames(predictor: Any, docs: Sequence[SpeechDoc]) -> dict[str, Any]:
    """Micro/macro F1 and per-label scores of a speech-level predictor (or a baseline that
    answers ``predict_matrix`` with ``labels`` and ``thresholds``) on ``docs``, with its own
    thresholds: the very scores suggestion stores."""
    labels = list(predictor.labels)
    probs = predictor.predict_matrix(list(docs))
    thresholds = [predictor.thresholds.get(lab, DEFAULT_THRESHOLD) for lab in labels]
    y_true = label_matrix((d.frames for d in docs), labels)
    return frame_scores_from_matrix(y_true, apply_thresholds(probs, thresholds), labels)

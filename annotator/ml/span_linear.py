"""Slogan spans that train in seconds: logistic regression over a frozen encoder's token states,
with the project's known formulations as evidence.

Each token is described by the encoder's hidden state two thirds of the way up
(``ml.token_states``), its neighbours' states, and whether it lies in a known formulation
(``ml.known``: the glossary, and the phrases annotators have marked as slogans). One logistic
regression per span label says whether a token is inside such a span; runs of tokens above a
token threshold become spans of whole words (jieba's words in Chinese and Japanese, at least two
words or two characters: ``ml.spans``), scored by their tokens' mean probability, and a span is
suggested if its score passes the label's span threshold. Known formulations found in the text
are suggested outright (score 1), with their exact edges.

Slogans are rare — most segments have none — so precision matters more than for frames: the
regularisation, class weighting, both thresholds and a limit of the model's spans per speech are
chosen on whole dev speeches (every segment, those nobody labelled as slogan-free) for
partial-overlap F1 among the settings whose spans reach ``MIN_PRECISION`` there; where none
does, the known formulations alone are suggested. The heads learn from every segment with a
slogan and a fixed sample of the others (``training_sample``), by L-BFGS on standardised
features.

Saved as a registry version of kind ``spans`` with ``method="linear"``: the heads in
``span_linear.safetensors``, the known formulations in ``known.json``, no pickles.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from annotator.errors import AnnotatorError
from annotator.metrics import span_scores
from annotator.ml.examples import Example, data_hash
from annotator.ml.known import KnownFormulations, long_enough
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
from annotator.ml.spans import Span, is_phrase, spans_from_token_labels
from annotator.ml.token_states import TokenStates, default_layer, token_states
from annotator.ml.words import keep_whole
from annotator.model_kinds import SPANS
from annotator.schemes import DEFAULT_SPAN_LABEL
from annotator.text import trimmed_phrase
from annotator.thresholds import reaches

WEIGHTS_FILE = "span_linear.safetensors"
KNOWN_FILE = "known.json"
C_GRID = (0.03, 0.1, 0.3)
CLASS_WEIGHTS = (None, "balanced")
TOKEN_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
KNOWN_ONLY = 1.0  # the known formulations' score: at this threshold, they alone (and a model span as sure) are suggested
SPAN_THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, KNOWN_ONLY)
# The precision on whole dev speeches below which the tagger's own spans are not suggested (the
# known formulations still are): a linguist deletes two wrong spans for each right one at most.
MIN_PRECISION = 0.35
KNOWN_SCALE = 3.0  # the known-formulation flag's size beside hidden states of unit scale
DEFAULTS = {"c": 0.1, "class_weight": None, "token_threshold": 0.5, "threshold": 0.5}
SPEECH_LIMITS = (1, 2, 3, 5, None)  # the most spans suggested in one speech, chosen on dev speeches
# Tokens (estimated from characters) of slogan-free segments the heads learn from, beside every
# segment with a slogan: whole speeches are mostly slogan-free, and the fit's time grows with
# every token. Dev keeps every segment: the thresholds and the limit are tuned on whole speeches.
NEGATIVE_TOKENS = 30_000
MAX_ITER = 300
CHARS_PER_TOKEN = 4


class LinearSpanTagger:
    """Character spans for segments from logistic regression over frozen token states."""

    TRAINING_FORMAT = 4  # raise when fit() changes: versions trained before are then not reused
    method = "linear"

    def __init__(self, layers: int | None = None, max_length: int = 512, use_known: bool = True) -> None:
        """``use_known`` False leaves the known formulations out (to measure what they bring)."""
        self.layers, self.max_length, self.use_known = layers, max_length, use_known
        self.labels: list[str] = []
        self.thresholds: dict[str, float] = {}  # a span's mean token probability must reach this
        self.token_thresholds: dict[str, float] = {}  # a token is in a span from this probability
        self.known = KnownFormulations()
        self.encoder_dir: Path | None = None
        self.c: float = DEFAULTS["c"]
        self.class_weight: str | None = None
        self.engine: str | None = None  # the inference engine (None: the process's; "torch" pins PyTorch)
        # thresholds tuned again on the engine's own dev states, by precision, where the engine
        # check did so (``ml.engine_checks``): used when the tagger runs at that precision
        self.engine_thresholds: dict[str, dict[str, dict[str, float]]] = {}
        self.max_per_speech: int | None = None  # the most spans suggested in one speech (None: no limit)
        self.data_hash = ""
        self.dev_metrics: dict[str, Any] = {}  # with the train speeches' formulations only, as tuned
        self._coef = np.zeros((0, 0), np.float32)
        self._intercept = np.zeros(0, np.float32)

    @property
    def span_labels(self) -> set[str]:
        return set(self.labels)

    # ------------------------------------------------------------------ features
    def _states(self, texts: Sequence[str]) -> list[TokenStates]:
        if self.encoder_dir is None or self.layers is None:
            raise AnnotatorError("the slogan tagger has no encoder: call fit() or load() first")
        return token_states(self.encoder_dir, texts, self.layers, self.max_length, engine=self.engine)

    def _features(self, text: str, tokens: TokenStates, leave_out_group: str | None = None) -> np.ndarray:
        h = tokens.states
        if not len(h):
            return np.zeros((0, 3 * h.shape[1] + len(self.labels)), np.float32)
        before = np.vstack([np.zeros((1, h.shape[1]), h.dtype), h[:-1]])
        after = np.vstack([h[1:], np.zeros((1, h.shape[1]), h.dtype)])
        known = np.asarray(self.known.inside(text, tokens.offsets, self.labels, leave_out_group), np.float32)
        return np.hstack([h, before, after, known.reshape(len(h), len(self.labels)) * KNOWN_SCALE])

    # ------------------------------------------------------------------ training
    def fit(self, examples: Sequence[Example], encoder_dir: Path | str, span_labels: Sequence[str],
            dev: Sequence[Example] = (), glossary: Sequence[str] = (), glossary_label: str = DEFAULT_SPAN_LABEL
            ) -> "LinearSpanTagger":
        """Train on ``examples`` (every decided segment, those without a slogan too); with ``dev``,
        choose the regularisation, class weighting and thresholds there."""
        from sklearn.linear_model import LogisticRegression  # noqa: F401  (fails early if missing)

        if not examples:
            raise AnnotatorError("no labelled segments to learn from: label some segments first")
        self.labels = list(span_labels)
        if not self.labels:
            raise AnnotatorError("the scheme defines no span labels")
        self.encoder_dir = Path(encoder_dir)
        self.layers = self.layers or default_layer(self.encoder_dir)
        glossary_label = glossary_label if glossary_label in self.labels else self.labels[0]
        marked = [(ex.text[s:e], lab, ex.group or ex.id) for ex in examples for s, e, lab in ex.spans
                  if lab in self.labels]
        if not self.use_known:
            glossary, marked = (), []
        self.known = KnownFormulations.build(glossary, glossary_label, marked)
        keep_whole(self.known.labels)
        sample = training_sample(examples)
        states = self._states([ex.text for ex in sample])
        # a speech's own slogans are not evidence for itself: the feature must mean what it will
        # mean on a new speech
        x = [self._features(ex.text, st, leave_out_group=ex.group or ex.id) for ex, st in zip(sample, states)]
        y = [self._targets(ex, st) for ex, st in zip(sample, states)]
        features, targets = np.vstack(x), np.vstack(y)
        dev_gold = [[s for s in ex.spans if s[2] in self.labels] for ex in dev]
        if dev and any(dev_gold):
            self._choose_on_dev(features, targets, dev, dev_gold)
        else:
            self.c, self.class_weight = DEFAULTS["c"], DEFAULTS["class_weight"]
            self._coef, self._intercept = _fit_heads(features, targets, self.c, self.class_weight)
            self.token_thresholds = {lab: DEFAULTS["token_threshold"] for lab in self.labels}
            self.thresholds = {lab: DEFAULTS["threshold"] for lab in self.labels}
        if dev:
            self.dev_metrics = span_scores(dev_gold, self.predict_tuples([ex.text for ex in dev],
                                                                         groups=[_group(ex) for ex in dev]))
        # the saved tagger knows the dev speeches' slogans too (never the test speeches')
        if self.use_known:
            self.known = KnownFormulations.build(
                glossary, glossary_label,
                marked + [(ex.text[s:e], lab, ex.group or ex.id) for ex in dev for s, e, lab in ex.spans
                          if lab in self.labels])
            keep_whole(self.known.labels)
        self.data_hash = data_hash(examples)
        return self

    def _targets(self, example: Example, tokens: TokenStates) -> np.ndarray:
        y = np.zeros((len(tokens.offsets), len(self.labels)), np.int8)
        for t, (start, end) in enumerate(tokens.offsets):
            for s, e, label in example.spans:
                if label in self.labels and start < e and end > s:
                    y[t, self.labels.index(label)] = 1
        return y

    def _choose_on_dev(self, features: np.ndarray, targets: np.ndarray, dev: Sequence[Example],
                       dev_gold: list[list[tuple[int, int, str]]]) -> None:
        dev_texts = [ex.text for ex in dev]
        dev_states = self._states(dev_texts)
        dev_features = [self._features(t, st) for t, st in zip(dev_texts, dev_states)]
        grid = [(c, weight) for c in C_GRID for weight in CLASS_WEIGHTS]
        best: tuple[tuple[bool, float], Any] | None = None
        for (c, weight), (coef, intercept) in zip(grid, _fit_grid(features, targets, grid)):
            probs = [_probabilities(coef, intercept, f) for f in dev_features]
            token_t, span_t, score = self._tune(dev_texts, dev_states, probs, dev_gold)
            if best is None or score > (best[0][0], best[0][1] + 1e-9):
                best = (score, (c, weight, coef, intercept, token_t, span_t))
        assert best is not None
        self.c, self.class_weight, self._coef, self._intercept, self.token_thresholds, self.thresholds = best[1]
        probs = [_probabilities(self._coef, self._intercept, f) for f in dev_features]
        found = [self._spans(text, st, p, self.token_thresholds, self.thresholds)
                 for text, st, p in zip(dev_texts, dev_states, probs)]
        self.max_per_speech = self._tune_limit(found, dev_gold, [_group(ex) for ex in dev])

    @staticmethod
    def _tune_limit(found: Sequence[Sequence[Span]], gold: list[list[tuple[int, int, str]]],
                    groups: Sequence[str]) -> int | None:
        """The most spans one speech may get (the best-scored kept) with the best dev partial F1
        over whole dev speeches at a precision of ``MIN_PRECISION`` or more, if any limit reaches
        it; ties: the larger limit (None, no limit, the largest)."""
        best: tuple[tuple[bool, float], int | None] = ((False, -1.0), None)
        for limit in reversed(SPEECH_LIMITS):
            kept = _limited(found, groups, limit)
            key = _merit(span_scores(gold, [[(sp.start, sp.end, sp.label) for sp in doc] for doc in kept]))
            if key > (best[0][0], best[0][1] + 1e-9):
                best = (key, limit)
        return best[1]

    def _tune(self, texts: Sequence[str], states: Sequence[TokenStates], probs: Sequence[np.ndarray],
              gold: list[list[tuple[int, int, str]]]) -> tuple[dict[str, float], dict[str, float], tuple[bool, float]]:
        """Per label, the token and span thresholds with the best dev partial F1 among those whose
        spans reach ``MIN_PRECISION`` on dev (ties: the higher thresholds, fewer spans to reject);
        where none does, the known formulations only. Returns them and the overall dev merit
        (:func:`_merit`)."""
        token_t, span_t = {}, {}
        for j, label in enumerate(self.labels):
            gold_l = [[s for s in doc if s[2] == label] for doc in gold]
            best: tuple[tuple[bool, float], float, float] = ((False, -1.0), 0.5, KNOWN_ONLY)
            for tt in TOKEN_THRESHOLDS:
                found = [self._label_spans(text, st, p, j, tt) for text, st, p in zip(texts, states, probs)]
                for stt in SPAN_THRESHOLDS:
                    pred = [[(sp.start, sp.end, sp.label) for sp in doc if reaches(sp.score, stt)] for doc in found]
                    key = _merit(span_scores(gold_l, pred))
                    if key[0] and key >= (best[0][0], best[0][1] - 1e-9):
                        best = (max(key, best[0]), tt, stt)
            token_t[label], span_t[label] = best[1], best[2]
        pred = [[(sp.start, sp.end, sp.label) for sp in self._spans(text, st, p, token_t, span_t)]
                for text, st, p in zip(texts, states, probs)]
        return token_t, span_t, _merit(span_scores(gold, pred))

    def calibrate(self, dev: Sequence[Example], precision: str) -> None:
        """Tune the token and span thresholds again on ``dev`` through the encoder as it runs now
        (the heads as they are), and keep them for when the tagger runs at ``precision``."""
        texts = [ex.text for ex in dev]
        gold = [[s for s in ex.spans if s[2] in self.labels] for ex in dev]
        states = self._states(texts)
        probs = [_probabilities(self._coef, self._intercept, self._features(t, st)) for t, st in zip(texts, states)]
        token_t, span_t, _ = self._tune(texts, states, probs, gold)
        self.engine_thresholds[precision] = {"token_thresholds": token_t, "thresholds": span_t}

    def current_thresholds(self) -> tuple[dict[str, float], dict[str, float]]:
        """The token and span thresholds for the precision the tagger runs at now."""
        engine = self.engine or ""
        tuned = self.engine_thresholds.get(engine[4:]) if engine.startswith("ct2-") else None
        if tuned:
            return tuned["token_thresholds"], tuned["thresholds"]
        return self.token_thresholds, self.thresholds

    # ---------------------------------------------------------------- prediction
    def _label_spans(self, text: str, tokens: TokenStates, probs: np.ndarray, j: int,
                     token_threshold: float) -> list[Span]:
        """Label ``j``'s spans in ``text``: the known formulations (score 1), and token runs over
        ``token_threshold`` scored by their mean probability. A known formulation's edges are
        exact, so where a run overlaps one, the formulation stands and what is left of the run
        on either side is a span of its own (scored by its own tokens) if it is long enough to be
        a phrase."""
        label = self.labels[j]
        column = probs[:, j].tolist() if len(probs) else []
        tags = [f"I-{label}" if reaches(p, token_threshold) else "O" for p in column]
        known = [Span(s, e, label, 1.0, text[s:e]) for s, e, lab in self.known.matches(text) if lab == label]
        found = list(known)
        for run in spans_from_token_labels(text, tokens.offsets, tags, column):
            pieces = [(run.start, run.end)]
            for k in known:
                pieces = [part for a, b in pieces for part in ((a, min(b, k.start)), (max(a, k.end), b))]
            for a, b in pieces:
                a, b = trimmed_phrase(text, a, b)
                if b - a == run.end - run.start:
                    found.append(run)
                elif b > a and long_enough(text[a:b]) and is_phrase(text[a:b]):  # scored by its own tokens
                    inside = [p for (ts, te), p in zip(tokens.offsets, column) if ts < b and te > a]
                    # no token of its own (past the encoder's length, say): the run's score
                    score = sum(inside) / len(inside) if inside else run.score
                    found.append(Span(a, b, label, score, text[a:b]))
        return sorted(found, key=lambda sp: sp.start)

    def _spans(self, text: str, tokens: TokenStates, probs: np.ndarray, token_t: dict[str, float],
               span_t: dict[str, float] | None) -> list[Span]:
        out: list[Span] = []
        for j, label in enumerate(self.labels):
            spans = self._label_spans(text, tokens, probs, j, token_t.get(label, DEFAULTS["token_threshold"]))
            if span_t is not None:
                spans = [sp for sp in spans if reaches(sp.score, span_t.get(label, 0.0))]
            out += spans
        return sorted(out, key=lambda sp: (sp.start, sp.end, sp.label))

    def predict(self, texts: Sequence[str], batch_size: int = 16, thresholded: bool = True,
                groups: Sequence[str] | None = None) -> list[list[Span]]:
        """The spans in each text, in input order, each sorted by start (those under their label's
        span threshold left out, unless ``thresholded`` is False). ``groups`` (each text's speech)
        applies the limit of spans per speech that dev chose: the best-scored are kept."""
        if not texts:
            return []
        states = self._states(list(texts))
        token_t, span_t = self.current_thresholds()
        out = []
        for text, st in zip(texts, states):
            probs = _probabilities(self._coef, self._intercept, self._features(text, st))
            out.append(self._spans(text, st, probs, token_t, span_t if thresholded else None))
        if thresholded and groups is not None:
            out = _limited(out, groups, self.max_per_speech)
        return out

    def predict_tuples(self, texts: Sequence[str], batch_size: int = 16,
                       groups: Sequence[str] | None = None) -> list[list[tuple[int, int, str]]]:
        return [[(s.start, s.end, s.label) for s in row] for row in self.predict(texts, batch_size, groups=groups)]

    # ------------------------------------------------------------------ registry
    def save(self, scheme: str = "", scheme_hash: str = "", metrics: dict[str, Any] | None = None,
             root: Path | None = None, version: str | None = None, dev_metrics: dict[str, Any] | None = None,
             base: str = "") -> Path:
        from safetensors.numpy import save_file

        if self.encoder_dir is None or not self.labels:
            raise AnnotatorError("fit the slogan tagger before saving it")
        name = version or new_version_name(SPANS) + "-linear"
        final = version_dir(SPANS, name, root)
        with building(final) as staging:
            save_file({"coef": self._coef, "intercept": self._intercept}, str(staging / WEIGHTS_FILE))
            (staging / KNOWN_FILE).write_text(json.dumps(self.known.to_json(), ensure_ascii=False, indent=1),
                                              encoding="utf-8")
            write_meta(staging, ModelMeta(
                kind=SPANS, version=name, base=base or encoder_reference(self.encoder_dir, root),
                method="linear", scheme=scheme, scheme_hash=scheme_hash, labels=self.labels,
                thresholds=self.thresholds, data_hash=self.data_hash, metrics=metrics or {},
                extra={"token_thresholds": self.token_thresholds, "layers": self.layers,
                       "max_length": self.max_length, "c": self.c, "class_weight": self.class_weight,
                       "known_formulations": len(self.known), "use_known": self.use_known,
                       "encoder_dir": str(self.encoder_dir.resolve()), "dev_metrics": dev_metrics or {},
                       "engine_thresholds": self.engine_thresholds, "max_per_speech": self.max_per_speech},
            ))
        return final

    @classmethod
    def load(cls, folder: Path | str, encoder_dir: Path | str | None = None,
             root: Path | None = None) -> "LinearSpanTagger":
        from safetensors.numpy import load_file

        folder = Path(folder)
        meta = read_saved(folder, "linear", WEIGHTS_FILE)
        x = meta.extra
        model = cls(int(x["layers"]), int(x.get("max_length", 512)), bool(x.get("use_known", True)))
        tensors = load_file(str(folder / WEIGHTS_FILE))
        model._coef, model._intercept = tensors["coef"], tensors["intercept"]
        model.known = KnownFormulations.from_json(json.loads((folder / KNOWN_FILE).read_text(encoding="utf-8")))
        model.labels, model.thresholds = list(meta.labels), dict(meta.thresholds)
        model.token_thresholds = {str(k): float(v) for k, v in (x.get("token_thresholds") or {}).items()}
        model.c, model.class_weight = float(x.get("c", DEFAULTS["c"])), x.get("class_weight")
        model.engine_thresholds = {str(p): {part: {str(k): float(v) for k, v in values.items()}
                                            for part, values in tuned.items()}
                                   for p, tuned in (x.get("engine_thresholds") or {}).items()}
        limit = x.get("max_per_speech")
        model.max_per_speech = int(limit) if limit else None
        keep_whole(model.known.labels)
        model.data_hash = meta.data_hash
        model.encoder_dir = Path(encoder_dir) if encoder_dir else find_encoder(meta, folder, root)
        return model


def training_sample(examples: Sequence[Example]) -> list[Example]:
    """What the heads learn from: every segment with a span, and slogan-free segments up to
    ``NEGATIVE_TOKENS`` (estimated), chosen by a hash of their text: the same sample every run,
    and a segment stays in it as the project grows, as long as the budget allows."""
    import hashlib

    with_spans = [ex for ex in examples if ex.spans]
    without = sorted((ex for ex in examples if not ex.spans),
                     key=lambda ex: hashlib.sha256(f"{ex.group}\x00{ex.text}".encode()).hexdigest())
    kept, budget = [], NEGATIVE_TOKENS
    for ex in without:
        if budget <= 0:
            break
        kept.append(ex)
        budget -= len(ex.text) // CHARS_PER_TOKEN + 2
    return [*with_spans, *kept]


def _merit(scores: dict[str, Any]) -> tuple[bool, float]:
    """How a setting ranks on dev: first whether its spans reach ``MIN_PRECISION``, then F1."""
    return scores["partial_precision"] >= MIN_PRECISION - 1e-9, float(scores["partial_f1"])


def _group(example: Example) -> str:
    """The speech an example belongs to (the example itself where it names none)."""
    return example.group or example.id


def _limited(found: Sequence[Sequence[Span]], groups: Sequence[str], limit: int | None) -> list[list[Span]]:
    """At most ``limit`` of the model's own spans per group (speech): the best-scored, ties to
    the earlier segment and position; the known formulations (score 1) are always kept, beside
    them; every span where ``limit`` is None."""
    if limit is None:
        return [list(doc) for doc in found]
    ranked: dict[str, list[tuple[float, int, int]]] = {}
    keep: set[tuple[int, int]] = set()
    for i, (doc, group) in enumerate(zip(found, groups, strict=True)):
        for k, sp in enumerate(doc):
            if sp.score >= KNOWN_ONLY:
                keep.add((i, k))
            else:
                ranked.setdefault(group, []).append((-sp.score, i, k))
    keep |= {(i, k) for spans in ranked.values() for _, i, k in sorted(spans)[:limit]}
    return [[sp for k, sp in enumerate(doc) if (i, k) in keep] for i, doc in enumerate(found)]


def _fit_grid(features: np.ndarray, targets: np.ndarray, grid: Sequence[tuple[float, str | None]]
              ) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`_fit_heads` for each (C, class weight) of ``grid``, in its order, one after another
    (L-BFGS spreads each fit's matrix products over the cores itself)."""
    features = np.ascontiguousarray(features, dtype=np.float32)  # converted once, not per fit
    return [_fit_heads(features, targets, c, weight) for c, weight in grid]


def _fit_heads(features: np.ndarray, targets: np.ndarray, c: float, class_weight: str | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per span label (inside or not); a label no token carries gets a
    head that never fires. L-BFGS: on tens of thousands of dense token rows it converges in
    seconds where liblinear's coordinate descent took minutes (22 s against 1.6 s on 50,000
    rows of 1,157 features)."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((targets.shape[1], features.shape[1]), np.float32)
    intercept = np.full(targets.shape[1], -20.0, np.float32)
    # fitted on standardised features (a few hidden dimensions are far larger than the rest, and
    # L-BFGS crawls on such a scale), then folded back so that the heads read the raw features
    mean = features.mean(axis=0, dtype=np.float64)
    scale = np.maximum(features.std(axis=0, dtype=np.float64), 1e-6)
    standard = ((features - mean) / scale).astype(np.float32)
    for j in range(targets.shape[1]):
        if targets[:, j].min() == targets[:, j].max():
            continue
        clf = LogisticRegression(C=c, class_weight=class_weight, max_iter=MAX_ITER, solver="lbfgs")
        with warnings.catch_warnings():  # not converged to the last digit within MAX_ITER: the heads are still good
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            clf.fit(standard, targets[:, j])
        weights = clf.coef_[0] / scale
        coef[j], intercept[j] = weights, clf.intercept_[0] - float(weights @ mean)
    return coef, intercept


def _probabilities(coef: np.ndarray, intercept: np.ndarray, features: np.ndarray) -> np.ndarray:
    if not len(features):
        return np.zeros((0, len(intercept)), np.float32)
    logits = features @ coef.T + intercept
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))

"""The frames evaluation behind ``annotator report``, all on the project's one test split
(``sides.split``):

* the active frames version beside a majority and a TF-IDF + logistic regression baseline,
  overall, per label and per language (with the number of test items of each);
* a learning curve: the quick frames model (the active version's method if it is ``knn`` or
  ``linear``, else ``linear``) and the TF-IDF baseline trained on growing, nested subsets of the
  train split drawn by speech with a fixed seed, each scored on the test split;
* cross-lingual transfer: for each language with at least ``PER_LANGUAGE_MIN`` test segments,
  the score on its test segments of the quick model trained on every train label against one
  trained (and tuned) without that language's labels, so a linguist sees whether labels in the
  other languages serve it.

Sentence embeddings come from the project's embedding cache, so the extra trainings cost
seconds, not encoder runs. Nothing here writes a model version.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.metrics import PER_LANGUAGE_MIN  # test segments a language needs for its own figure
from annotator.ml.examples import Example
from annotator.model_kinds import FRAMES
from annotator.schemes import Scheme
from annotator.services.evaluation.sides import gold_examples, split
from annotator.services.models import active_scheme
from annotator.store import Store

CURVE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)  # shares of the train split's segments
CURVE_SEED = 11  # the order in which speeches join the growing subsets
QUICK_METHODS = ("knn", "linear")
MAJORITY, TFIDF = "majority", "tfidf+logreg"


@dataclass
class CurvePoint:
    fraction: float  # the share of the train split asked for
    n_train: int  # labelled training segments in the subset
    n_speeches: int
    model: dict[str, Any]  # the quick model's test scores (evaluate_frames)
    tfidf: dict[str, Any]  # the TF-IDF baseline's test scores


@dataclass
class TransferRow:
    language: str
    n_test: int  # test segments in this language
    n_train_language: int  # train segments in this language (left out of "without")
    n_train_others: int
    with_all: float  # micro-F1 on this language's test segments, trained on every train label
    without: float | None  # trained and tuned without this language's labels (None: nothing left)
    majority: float  # the majority baseline (all train labels) on the same segments


@dataclass
class FramesEvaluation:
    n_train: int
    n_dev: int
    n_test: int
    labels: list[str]
    languages: dict[str, int]  # test segments per language
    rows: dict[str, dict[str, Any]]  # name -> {"overall": scores, "per_language": {lang: micro-F1}}
    label_counts: dict[str, dict[str, int]]  # "train"/"test" -> label -> segments carrying it
    note: str = ""
    curve_method: str = ""
    curve: list[CurvePoint] = field(default_factory=list)
    transfer: list[TransferRow] = field(default_factory=list)
    curve_note: str = ""
    seconds: float = 0.0
    curve_seconds: float = 0.0
    per_language_min: int = PER_LANGUAGE_MIN
    scheme: Scheme | None = None  # whose labels these are: the names a person reads

    def label_name(self, label: str) -> str:
        """The label's display name (``Scheme.display_name``), as the screens show it."""
        return self.scheme.display_name(label) if self.scheme is not None else label

    @property
    def shown_languages(self) -> list[str]:
        return [lang for lang, n in self.languages.items() if n >= self.per_language_min]

    @property
    def active_row(self) -> str:
        return next((name for name in self.rows if name.startswith("active: ")), "")


def nested_subsets(train: Sequence[Example], fractions: Sequence[float] = CURVE_FRACTIONS,
                   seed: int = CURVE_SEED) -> list[tuple[float, list[Example]]]:
    """Growing subsets of ``train``, whole speeches at a time (a speech's segments are never
    split), each holding the one before: speeches join in one seeded order until a subset has
    at least its share of the segments. Each keeps ``train``'s order; the share 1.0 is ``train``
    itself. Shares that would give the same subset as a smaller one are left out."""
    groups = sorted({ex.group or ex.id for ex in train})
    random.Random(seed).shuffle(groups)
    sizes = Counter(ex.group or ex.id for ex in train)
    out: list[tuple[float, list[Example]]] = []
    taken: set[str] = set()
    count, order = 0, iter(groups)
    for fraction in sorted(fractions):
        want = fraction * len(train)
        for group in order if count < want - 1e-9 else ():
            taken.add(group)
            count += sizes[group]
            if count >= want - 1e-9:
                break
        subset = [ex for ex in train if (ex.group or ex.id) in taken]
        if subset and (not out or len(subset) > len(out[-1][1])):
            out.append((fraction, subset))
    return out


def _active(store: Store) -> tuple[str, dict[str, Any], Any, str]:
    """The active frames version: its name, meta, loaded predictor (or None) and why not loaded."""
    from annotator.ml.train import frame_predictor
    from annotator.services.suggest import use_embedding_cache

    active = store.active_models().get(FRAMES) or ""
    entry = store.registered_model(active)
    if not active or entry is None:
        return active, {}, None, ""
    try:
        model = frame_predictor(Path(entry["path"]))
        use_embedding_cache(store, model)
        return active, entry["meta"], model, ""
    except Exception as exc:  # an active version that cannot load: the baselines still show
        return active, entry["meta"], None, f"active version {active} not scored: {exc}"


def _encoder_for_curves(active_meta: dict[str, Any], model: Any) -> Path:
    """The encoder of the active version (the one whose embeddings the project keeps)."""
    from annotator.ml.encoder_setup import resolve_base

    if model is not None and getattr(model, "encoder_dir", None) is not None:
        return Path(model.encoder_dir)
    return resolve_base(active_meta.get("base") or None)


def evaluate_project_frames(store: Store, scheme: Scheme | None = None, curves: bool = True,
                            fractions: Sequence[float] = CURVE_FRACTIONS, seed: int = CURVE_SEED) -> FramesEvaluation | None:
    """Everything the report shows about frames beyond the saved versions' own scores; None
    where the project has no gold labels. ``curves=False`` leaves out the learning curve and the
    cross-lingual transfer (the extra trainings)."""
    from annotator.ml.baselines import MajorityFrames, TfidfFrames
    from annotator.ml.scoring import evaluate_frames

    started = time.perf_counter()
    active, meta, active_model, note = _active(store)
    scheme = scheme if scheme is not None else active_scheme(store)
    examples = gold_examples(store, scheme)
    if not examples:
        return None
    train, dev, test = split(store, examples)
    labels = list(scheme.frame_ids)
    models: dict[str, Any] = {MAJORITY: MajorityFrames().fit(train, labels), TFIDF: TfidfFrames().fit(train, labels, dev)}
    if active_model is not None:
        models[f"active: {active}"] = active_model
    by_language: dict[str, list[Example]] = {}
    for ex in test:
        by_language.setdefault(ex.language, []).append(ex)
    languages = {lang: len(by_language[lang]) for lang in sorted(by_language)}
    minimum = PER_LANGUAGE_MIN
    rows = {name: {"overall": evaluate_frames(model, test),
                   "per_language": {lang: evaluate_frames(model, exs)["micro_f1"]
                                    for lang, exs in sorted(by_language.items()) if len(exs) >= minimum}}
            for name, model in models.items()}
    counts = {side: {lab: sum(lab in ex.frames for ex in part) for lab in labels}
              for side, part in (("train", train), ("test", test))}
    ev = FramesEvaluation(n_train=len(train), n_dev=len(dev), n_test=len(test), labels=labels, languages=languages,
                          rows=rows, label_counts=counts, note=note,
                          per_language_min=minimum, scheme=scheme)
    if curves:
        curve_started = time.perf_counter()
        try:
            _curves(store, ev, meta, active_model, models, train, dev, test, by_language, fractions, seed)
        except Exception as exc:  # no encoder on this machine: the rest of the report still shows
            ev.curve, ev.transfer = [], []
            ev.curve_note = f"learning curve and transfer not computed: {exc}"
        ev.curve_seconds = time.perf_counter() - curve_started
    ev.seconds = time.perf_counter() - started
    return ev


def _curves(store: Store, ev: FramesEvaluation, meta: dict[str, Any], active_model: Any, models: dict[str, Any],
            train: list[Example], dev: list[Example], test: list[Example], by_language: dict[str, list[Example]],
            fractions: Sequence[float], seed: int) -> None:
    from annotator.ml.baselines import TfidfFrames
    from annotator.ml.embeddings import embed_texts, encoder_key
    from annotator.ml.scoring import evaluate_frames
    from annotator.ml.train import fit_quick_frames

    method = meta.get("method") if meta.get("method") in QUICK_METHODS else "linear"
    encoder_dir = _encoder_for_curves(meta, active_model)
    cache = store.embedding_cache(encoder_key(encoder_dir))
    # Every text once through the cache first: the texts it lacks are embedded here, in one
    # run, and every model below reads the same stored vectors.
    embed_texts(encoder_dir, [ex.text for ex in (*train, *dev, *test)], cache=cache)
    ev.curve_method = method
    full_model = None
    for fraction, subset in nested_subsets(train, fractions, seed):
        model = fit_quick_frames(method, subset, dev, encoder_dir, ev.labels, cache)
        tfidf = models[TFIDF] if len(subset) == len(train) else TfidfFrames().fit(subset, ev.labels, dev)
        ev.curve.append(CurvePoint(fraction=fraction, n_train=len(subset),
                                   n_speeches=len({ex.group or ex.id for ex in subset}),
                                   model=evaluate_frames(model, test), tfidf=evaluate_frames(tfidf, test)))
        if len(subset) == len(train):
            full_model = model
    if full_model is None:
        full_model = fit_quick_frames(method, train, dev, encoder_dir, ev.labels, cache)
    for lang in ev.shown_languages:
        exs = by_language[lang]
        others = [ex for ex in train if ex.language != lang]
        without = None
        if others:
            model = fit_quick_frames(method, others, [ex for ex in dev if ex.language != lang], encoder_dir,
                                     ev.labels, cache)
            without = evaluate_frames(model, exs)["micro_f1"]
        ev.transfer.append(TransferRow(
            language=lang, n_test=len(exs), n_train_language=len(train) - len(others), n_train_others=len(others),
            with_all=evaluate_frames(full_model, exs)["micro_f1"], without=without,
            majority=evaluate_frames(models[MAJORITY], exs)["micro_f1"]))


def compare_with_baselines(store: Store, scheme: Scheme) -> dict[str, Any]:
    """The active frames version beside a majority and a TF-IDF + logistic regression baseline,
    all on the project's own test split (overall, and per language with enough test segments)."""
    ev = evaluate_project_frames(store, scheme, curves=False)
    if ev is None:
        return {}
    return {"n_test": ev.n_test, "n_train": ev.n_train, "languages": ev.languages, "rows": ev.rows, "note": ev.note}

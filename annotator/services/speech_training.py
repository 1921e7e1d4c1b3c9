"""Frames for whole speeches from the project's speech labels: the two candidates (an aggregate
of the active segment frames model tuned on dev speeches, and a speech-level linear model of its
own) fitted on the train speeches, chosen by dev score, scored on the test speeches beside a
majority baseline — the same fitting for ``annotator train`` (which saves them) and the report
(which scores them). Every speech is on its side of the project's one split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.ml.speech_frames import KIND, AggregateSpeechFrames, SpeechDoc, evaluate_speech_frames
from annotator.model_kinds import FRAMES
from annotator.schemes import Scheme
from annotator.services.speech_docs import gold_speech_docs, split_speech_docs
from annotator.store import Store

MIN_TRAIN_SPEECHES = 8  # labelled train speeches before a speech-level model of its own is fitted
TRAINING_FORMAT = 2  # of this module's fitting and tuning: raise when it changes


@dataclass
class SpeechCandidate:
    method: str  # "aggregate" | "linear"
    description: str
    model: Any = None  # the fitted predictor (None where a saved version was reused)
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # on the test speeches
    version: str = ""
    reused: bool = False


@dataclass
class SpeechFramesResult:
    """The candidates on the same speeches, beside the simplest baselines: the k commonest frames
    (majority) and TF-IDF + logistic regression over the whole text."""

    sizes: dict[str, int]  # speeches per side
    candidates: list[SpeechCandidate]
    majority: dict[str, Any]
    tfidf: dict[str, Any] = field(default_factory=dict)
    majority_k: int = 1
    notes: list[str] = field(default_factory=list)
    chosen: SpeechCandidate | None = None
    activated: bool = False
    previous_version: str = ""
    previous_metrics: dict[str, Any] = field(default_factory=dict)  # on the same test speeches
    kept_why: str = ""  # why the active version was kept (services.training.kept_because)
    test: list[SpeechDoc] = field(default_factory=list, repr=False)  # the test speeches scored

    def lines(self) -> list[str]:
        """What ``annotator train`` prints: each candidate's dev and test scores beside majority."""
        sizes = "/".join(str(self.sizes.get(side, 0)) for side in ("train", "dev", "test"))
        out = []
        for c in self.candidates:
            line = (f"speech frames: {c.method} ({c.description}) dev micro-F1 {_f(c.dev_metrics)} / test micro-F1 "
                    f"{_f(c.metrics)} (macro {_f(c.metrics, 'macro_f1')})")
            out.append(line + (f"; {c.version}" + (" reused: the labels are unchanged" if c.reused else "")
                               if c.version else ""))
        out.append(f"speech frames: baselines test micro-F1: the {self.majority_k} commonest frames "
                   f"{_f(self.majority)}, TF-IDF + logistic regression over the whole text {_f(self.tfidf)} "
                   f"(macro {_f(self.majority, 'macro_f1')}, {_f(self.tfidf, 'macro_f1')}); "
                   f"train/dev/test {sizes} speeches")
        if self.chosen is not None:
            line = f"speech frames: chose {self.chosen.method} by dev micro-F1"
            if self.activated:
                line += f"; {self.chosen.version} now active"
            elif self.previous_version and self.kept_why:
                line += f"; kept {self.previous_version} active: {self.kept_why}"
            out.append(line)
        out += [f"speech frames: {note}" for note in self.notes]
        return out


LINEAR_DESCRIPTION = "logistic regression over word and character TF-IDF of the whole text and its segment embeddings"


def _weights(weights: dict[str, float]) -> str:
    return " ".join(f"{view} {weight:.2f}" for view, weight in weights.items())


def _f(metrics: dict[str, Any], key: str = "micro_f1") -> str:
    """A score, or - where there is none (nothing scored, or scored on no speech)."""
    from annotator.services.training import scored_items

    value = metrics.get(key)
    return f"{value:.3f}" if isinstance(value, (int, float)) and scored_items(metrics) != 0 else "-"


def _metric(metrics: dict[str, Any], key: str = "micro_f1") -> float:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else 0.0


def _active_segment_model(store: Store) -> tuple[str, Path, Any] | None:
    """The active segment frames version: name, folder and predictor (reading the project's embeddings)."""
    from annotator.ml.train import frame_predictor
    from annotator.services.suggest import use_embedding_cache

    version = store.active_models().get(FRAMES)
    entry = store.registered_model(version)
    if not version or entry is None or not Path(entry["path"]).is_dir():
        return None
    predictor = frame_predictor(Path(entry["path"]))
    use_embedding_cache(store, predictor)
    return version, Path(entry["path"]), predictor


def _recipe(method: str, source: str, scheme: Scheme, sides: tuple[list[SpeechDoc], ...]) -> str:
    """What a speech frames version is made from: its method and what it reads (the segment
    version, or the encoder), the labels and the split. The same recipe gives the same version."""
    recipe = {"kind": KIND, "method": method, "source": source, "scheme": scheme.labels_key, "format": TRAINING_FORMAT,
              "sides": [sorted([d.id, sorted(d.frames)] for d in side) for side in sides]}
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def speech_frames_result(store: Store, scheme: Scheme, base: str | None = None, save: bool = False,
                         reuse: bool = True) -> SpeechFramesResult | None:
    """Fit (and with ``save``, save) both candidates on the project's speech labels and score
    them on the test speeches beside the majority baseline; None without speech labels."""
    from annotator.ml.baselines import MajorityFrames, TfidfFrames
    from annotator.ml.embeddings import encoder_key
    from annotator.ml.encoder_setup import resolve_base
    from annotator.ml.speech_linear import LinearSpeechFrames
    from annotator.services.training import reusable_version

    docs = gold_speech_docs(store, scheme)
    if not docs:
        return None
    train, dev, test = split_speech_docs(store, docs)
    labels = list(scheme.frame_ids)
    majority = MajorityFrames().fit(train, labels)
    result = SpeechFramesResult(sizes={"train": len(train), "dev": len(dev), "test": len(test)}, candidates=[],
                                majority=evaluate_speech_frames(majority, test), majority_k=majority.k,
                                tfidf=evaluate_speech_frames(TfidfFrames().fit(train, labels, dev), test) if test else {},
                                test=test)
    if not test:
        result.notes.append("no test speech yet: label more speeches as a whole (`v` in the annotation screen)")
    segment = _active_segment_model(store)
    plans: list[tuple[str, str, str]] = []  # method, what it reads (for the recipe), description
    if segment is not None:
        plans.append(("aggregate", segment[0], f"mean of the top segment scores of {segment[0]}"))
    else:
        result.notes.append("no active segment frames model to aggregate: run `annotator train` on segment labels")
    encoder_dir = None
    if len(train) >= MIN_TRAIN_SPEECHES:
        # the segment models' encoder, whose embeddings the project keeps
        own = getattr(segment[2], "encoder_dir", None) if segment is not None else None
        encoder_dir = resolve_base(base) if base or own is None else Path(own)
        plans.append(("linear", encoder_key(encoder_dir), LINEAR_DESCRIPTION))
    else:
        result.notes.append(f"{len(train)} train speeches with speech labels: the speech model of its own needs "
                            f"{MIN_TRAIN_SPEECHES}")
    for method, source, description in plans:
        recipe = _recipe(method, source, scheme, (train, dev, test))
        existing = reusable_version(store, KIND, recipe) if save and reuse else None
        if existing is not None:
            meta = existing["meta"]
            if method == "aggregate":
                description = f"mean of the top {(meta.get('extra') or {}).get('k')} segment scores of {source}"
            result.candidates.append(SpeechCandidate(
                method, description, None, dict((meta.get("extra") or {}).get("dev_metrics") or {}),
                dict(meta.get("metrics") or {}), existing["version"], reused=True))
            continue
        if method == "aggregate":
            assert segment is not None
            model: Any = AggregateSpeechFrames(segment[2], segment_version=segment[0]).tune(dev)
            description = f"mean of the top {model.k} segment scores of {segment[0]}"
        else:
            model = LinearSpeechFrames()
            model.embedding_cache = store.embedding_cache(encoder_key(encoder_dir))
            model.fit(train, encoder_dir, labels, dev)
            description = f"{LINEAR_DESCRIPTION}; weights {_weights(model.weights)}, chosen by {model.chosen_by}"
        # a model tuned by cross-validation over train and dev is scored on dev by its
        # out-of-fold scores: dev was part of what it was fitted on
        dev_metrics = (getattr(model, "cv_metrics", None) or (evaluate_speech_frames(model, dev) if dev else {}))
        candidate = SpeechCandidate(method, description, model, dev_metrics, evaluate_speech_frames(model, test))
        if save:
            candidate.version = _save(store, scheme, candidate, recipe, segment)
        result.candidates.append(candidate)
    if result.candidates:
        result.chosen = max(result.candidates, key=lambda c: (_metric(c.dev_metrics), _metric(c.dev_metrics, "macro_f1"),
                                                              _metric(c.metrics)))
    return result


def _save(store: Store, scheme: Scheme, candidate: SpeechCandidate, recipe: str,
          segment: tuple[str, Path, Any] | None) -> str:
    from annotator.services.models import register_and_activate

    extra = {"recipe": recipe, "dev_metrics": candidate.dev_metrics}
    if candidate.method == "aggregate":
        assert segment is not None
        folder = candidate.model.save(segment[1], scheme=scheme.name, scheme_hash=scheme.hash,
                                      metrics=candidate.metrics, extra=extra)
    else:
        folder = candidate.model.save(scheme=scheme.name, scheme_hash=scheme.hash, metrics=candidate.metrics,
                                      extra=extra)
    return register_and_activate(store, folder, activate=False).version


def train_speech_frames(store: Store, scheme: Scheme, base: str | None = None, activate: bool = True,
                        force: bool = False, reuse: bool = True) -> SpeechFramesResult | None:
    """Train, save and register both candidates; the one best on dev becomes the active speech
    frames version if it may replace the active one (``services.training.kept_because``: it
    scores at least as well on the same test speeches, and a version scored on no test speech
    never replaces one that was scored on some), or with ``force``. None without speech labels."""
    result = speech_frames_result(store, scheme, base, save=True, reuse=reuse)
    if result is None or result.chosen is None:
        return result
    from annotator.services.training import kept_because, recorded_metrics

    previous = store.active_models().get(KIND, "")
    if previous and previous != result.chosen.version:
        result.previous_version = previous
        result.previous_metrics = _previous_on_test(store, previous, result.test)
        result.kept_why = kept_because(result.chosen.metrics, previous, result.previous_metrics,
                                       recorded_metrics(store, previous), "micro_f1", "speeches")
    result.activated = activate and (force or not result.kept_why)
    if result.activated:
        store.set_active_model(KIND, result.chosen.version)
    return result


def _previous_on_test(store: Store, version: str, test: list[SpeechDoc]) -> dict[str, Any]:
    """The active speech frames version's scores on the same test speeches."""
    from annotator.ml.predictors import load_predictor
    from annotator.services.suggest import use_embedding_cache

    entry = store.registered_model(version)
    if entry is None:
        return {"error": "not registered"}
    try:
        predictor = load_predictor(KIND, Path(entry["path"]))
        use_embedding_cache(store, predictor)
        return evaluate_speech_frames(predictor, test)
    except Exception as exc:  # a broken old version must not cost the new one
        return {"error": f"could not evaluate: {exc}"}


def report_speech_frames(store: Store) -> SpeechFramesResult | None:
    """The report's speech-level figures: both ways fitted as ``annotator train`` fits them (not
    saved) and scored on the test speeches beside majority; None without speech labels. The
    scheme is the active frames version's; a failure is one note, never the report's end."""
    from annotator.services.models import active_scheme

    active = store.active_models()
    scheme = active_scheme(store)
    try:
        result = speech_frames_result(store, scheme)
    except Exception as exc:  # no encoder on this machine, a broken version: the rest still shows
        return SpeechFramesResult(sizes={}, candidates=[], majority={}, notes=[f"not computed: {exc}"])
    if result is not None and active.get(KIND):
        result.notes.append(f"active speech frames version: {active[KIND]}")
    return result

"""Frames for whole speeches, scored: each candidate that ``services.speech_training`` fits (an
aggregate of the active segment frames model, a speech-level model of its own) on the project's
test speeches with speech labels (``sides.speech_sides``), beside the two baselines fitted on the
same train speeches: the k commonest frames (majority, k the count that scores best on the train
speeches) and TF-IDF + logistic regression over each speech's whole text. ``annotator train``
prints these figures and ``annotator report`` shows them; the versions table scores the saved
versions on the same test speeches (``versions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotator.metrics import scored_items
from annotator.ml.speech_frames import SpeechDoc

MAJORITY_NAME = "the {k} commonest frames"


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

    @property
    def majority_name(self) -> str:
        return MAJORITY_NAME.format(k=self.majority_k)

    def lines(self) -> list[str]:
        """What ``annotator train`` prints: each candidate's dev and test scores beside the baselines."""
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


def _f(metrics: dict[str, Any], key: str = "micro_f1") -> str:
    """A score, or - where there is none (nothing scored, or scored on no speech)."""
    value = metrics.get(key)
    return f"{value:.3f}" if isinstance(value, (int, float)) and scored_items(metrics) != 0 else "-"


def _metric(metrics: dict[str, Any], key: str = "micro_f1") -> float:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else 0.0


def with_baselines(sides: tuple[list[SpeechDoc], list[SpeechDoc], list[SpeechDoc]],
                   labels: Sequence[str]) -> SpeechFramesResult:
    """A result for these train / dev / test speeches with no candidate yet: the k commonest
    frames and TF-IDF + logistic regression, fitted on the train speeches (TF-IDF tuned on dev),
    scored on the test speeches."""
    from annotator.ml.baselines import MajorityFrames, TfidfFrames
    from annotator.ml.scoring import evaluate_speech_frames

    train, dev, test = sides
    majority = MajorityFrames().fit(train, list(labels))
    result = SpeechFramesResult(
        sizes={"train": len(train), "dev": len(dev), "test": len(test)}, candidates=[],
        majority=evaluate_speech_frames(majority, test), majority_k=majority.k,
        tfidf=evaluate_speech_frames(TfidfFrames().fit(train, list(labels), dev), test) if test else {}, test=test)
    if not test:
        result.notes.append("no test speech yet: label more speeches as a whole (`v` in the annotation screen)")
    return result


def scored_candidate(method: str, description: str, model: Any, dev: Sequence[SpeechDoc],
                     test: Sequence[SpeechDoc]) -> SpeechCandidate:
    """A fitted candidate with its dev and test scores. A model tuned by cross-validation over
    train and dev is scored on dev by its out-of-fold scores (``cv_metrics``): dev was part of
    what it was fitted on."""
    from annotator.ml.scoring import evaluate_speech_frames

    dev_metrics = getattr(model, "cv_metrics", None) or (evaluate_speech_frames(model, dev) if dev else {})
    return SpeechCandidate(method, description, model, dev_metrics, evaluate_speech_frames(model, test))


def choose(result: SpeechFramesResult) -> None:
    """The candidate best on dev (micro-F1, then macro-F1, then test micro-F1) as ``result.chosen``."""
    if result.candidates:
        result.chosen = max(result.candidates, key=lambda c: (_metric(c.dev_metrics),
                                                              _metric(c.dev_metrics, "macro_f1"), _metric(c.metrics)))

"""Frames for whole speeches from the project's speech labels: the candidates (an aggregate of
the active segment frames model tuned on dev speeches, a speech-level linear model of its own,
and on request an encoder fine-tuned on whole speeches) fitted on the train speeches, and saved for ``annotator train`` (the report fits them
without saving) — the same fitting for both. Which speeches (every speech on its side of the
project's one split) and how they are scored beside the baselines: ``services.evaluation``
(``sides``, ``speeches``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from annotator.ml.speech_frames import KIND, AggregateSpeechFrames, SpeechDoc
from annotator.model_kinds import FRAMES
from annotator.schemes import Scheme
from annotator.services.evaluation.sides import speech_sides
from annotator.services.evaluation.speeches import (
    SpeechCandidate,
    SpeechFramesResult,
    choose,
    scored_candidate,
    with_baselines,
)
from annotator.store import Store

MIN_TRAIN_SPEECHES = 8  # labelled train speeches before a speech-level model of its own is fitted
TRAINING_FORMAT = 2  # of this module's fitting and tuning: raise when it changes


LINEAR_DESCRIPTION = "logistic regression over word and character TF-IDF of the whole text and its segment embeddings"


FINETUNE = "finetune"
FINETUNE_DESCRIPTION = "the encoder fine-tuned on whole speeches (their first 512 tokens)"


def _finetuned(train: list[SpeechDoc], dev: list[SpeechDoc], encoder_dir: Path, labels: list[str], epochs: int,
               progress: Any) -> Any:
    """The encoder fine-tuned on the train speeches' texts (early stopping and thresholds on dev),
    as the speech frames predictor; its training result kept for saving."""
    from annotator.ml.speech_finetune import BATCH_SIZE, MAX_LENGTH, FinetunedSpeechFrames, speech_example
    from annotator.ml.train import frame_predictor, train_frames

    def report(step: int, total: int, info: dict | None = None) -> None:
        if progress:
            progress("train:speeches", step, total)

    result = train_frames([speech_example(d) for d in train], [speech_example(d) for d in dev], encoder_dir, labels,
                          epochs=epochs, max_length=MAX_LENGTH, batch_size=BATCH_SIZE, progress=report)
    result.kind, result.base = KIND, str(encoder_dir)
    model = FinetunedSpeechFrames(frame_predictor(result))
    model.result = result
    return model


def _weights(weights: dict[str, float]) -> str:
    return " ".join(f"{view} {weight:.2f}" for view, weight in weights.items())


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
                         reuse: bool = True, finetune: bool = False, epochs: int = 6,
                         progress: Any = None) -> SpeechFramesResult | None:
    """Fit (and with ``save``, save) the candidates on the project's speech labels and score
    them on the test speeches beside the baselines; None without speech labels. ``finetune``
    adds an encoder fine-tuned on whole speeches (minutes per epoch on a CPU), chosen like the
    others by its dev score."""
    from annotator.ml.embeddings import encoder_key
    from annotator.ml.encoder_setup import resolve_base
    from annotator.ml.speech_linear import LinearSpeechFrames
    from annotator.services.training import reusable_version

    train, dev, test = speech_sides(store, scheme)
    if not (train or dev or test):
        return None
    labels = list(scheme.frame_ids)
    result = with_baselines((train, dev, test), labels)
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
        if finetune:
            plans.append((FINETUNE, encoder_key(encoder_dir) + f":epochs={epochs}", FINETUNE_DESCRIPTION))
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
        elif method == FINETUNE:
            assert encoder_dir is not None
            model = _finetuned(train, dev, encoder_dir, labels, epochs, progress)
        else:
            model = LinearSpeechFrames()
            model.embedding_cache = store.embedding_cache(encoder_key(encoder_dir))
            model.fit(train, encoder_dir, labels, dev)
            description = f"{LINEAR_DESCRIPTION}; weights {_weights(model.weights)}, chosen by {model.chosen_by}"
        candidate = scored_candidate(method, description, model, dev, test)
        if save:
            candidate.version = _save(store, scheme, candidate, recipe, segment)
        result.candidates.append(candidate)
    choose(result)
    return result


def _save(store: Store, scheme: Scheme, candidate: SpeechCandidate, recipe: str,
          segment: tuple[str, Path, Any] | None) -> str:
    from annotator.services.models import register_and_activate

    extra = {"recipe": recipe, "dev_metrics": candidate.dev_metrics}
    if candidate.method == "aggregate":
        assert segment is not None
        folder = candidate.model.save(segment[1], scheme=scheme.name, scheme_hash=scheme.hash,
                                      metrics=candidate.metrics, extra=extra)
    elif candidate.method == FINETUNE:
        from annotator.ml.registry import add_meta_extra
        from annotator.ml.train import save_version

        result = candidate.model.result
        folder = save_version(result, KIND, scheme.name, scheme.hash, "", candidate.metrics, base=result.base)
        add_meta_extra(folder, **extra)
    else:
        folder = candidate.model.save(scheme=scheme.name, scheme_hash=scheme.hash, metrics=candidate.metrics,
                                      extra=extra)
    return register_and_activate(store, folder, activate=False).version


def train_speech_frames(store: Store, scheme: Scheme, base: str | None = None, activate: bool = True,
                        force: bool = False, reuse: bool = True, finetune: bool = False, epochs: int = 6,
                        progress: Any = None) -> SpeechFramesResult | None:
    """Train, save and register both candidates; the one best on dev becomes the active speech
    frames version if it may replace the active one (``services.training.kept_because``: it
    scores at least as well on the same test speeches, and a version scored on no test speech
    never replaces one that was scored on some), or with ``force``. None without speech labels."""
    result = speech_frames_result(store, scheme, base, save=True, reuse=reuse, finetune=finetune, epochs=epochs,
                                  progress=progress)
    if result is None or result.chosen is None:
        return result
    from annotator.services.evaluation.versions import active_on_test
    from annotator.services.training import kept_because, recorded_metrics

    result.previous_version, result.previous_metrics = active_on_test(store, KIND, result.test,
                                                                      unless=result.chosen.version)
    if result.previous_version:
        result.kept_why = kept_because(result.chosen.metrics, result.previous_version, result.previous_metrics,
                                       recorded_metrics(store, result.previous_version), "micro_f1", "speeches")
    result.activated = activate and (force or not result.kept_why)
    if result.activated:
        store.set_active_model(KIND, result.chosen.version)
    return result

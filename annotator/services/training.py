"""Training from the project's labels: gold examples → split → train → evaluate → new version.

This is the service behind ``annotator train`` and ``annotator models setup``. It never imports
Textual; the UI runs it in a worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError
from annotator.ml.examples import Example, data_hash
from annotator.model_kinds import FRAMES, SPANS
from annotator.progress import Progress
from annotator.schemes import Scheme
from annotator.services.evaluation.sides import gold_examples, kind_sides
from annotator.store import Store



@dataclass
class TrainOutcome:
    kind: str
    version: str
    method: str
    folder: Path
    metrics: dict[str, Any]
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    previous_version: str = ""
    previous_metrics: dict[str, Any] = field(default_factory=dict)  # on the same test items
    previous_recorded: dict[str, Any] = field(default_factory=dict)  # recorded when it was trained
    sizes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    activated: bool = False
    kept_previous: bool = False  # trained, but the active version scores higher: left as it was
    discarded: bool = False  # … and so the new version's weights were deleted (its meta.json stays)
    reused: bool = False  # the labels, split and recipe are unchanged: an existing version stands

    @property
    def key(self) -> str:
        return "micro_f1" if self.kind == FRAMES else "partial_f1"

    def better_than_previous(self) -> bool:
        return not kept_because(self.metrics, self.previous_version, self.previous_metrics, self.previous_recorded,
                                self.key)

    def kept_why(self) -> str:
        """Why the active version was kept ("" where the new one may replace it)."""
        return kept_because(self.metrics, self.previous_version, self.previous_metrics, self.previous_recorded,
                            self.key, "segments")

    def note(self) -> str:
        """One line: the new score against the previous version's, and what became of it."""
        key = self.key
        line = f"{self.kind} retrained ({self.method}): test {key.replace('_f1', '-F1')} {_metric(self.metrics, key):.3f}"
        if self.previous_version:
            line += f", was {_metric(self.previous_metrics, key):.3f}"
        if self.reused:
            line += " (labels unchanged: same version)"
        elif self.kept_previous:
            line += f"; kept {self.previous_version}: {self.kept_why()}"
            if self.discarded:
                line += " (the new version discarded)"
        return line

    def headline(self) -> str:
        key = self.key
        new = _metric(self.metrics, key)
        line = f"{self.kind}: {self.version} ({self.method}) test {key} {new:.3f}"
        if self.reused:
            line = f"{self.kind}: {self.version} ({self.method}) reused: the labels and split are unchanged; test {key} {new:.3f}"
        if "macro_f1" in self.metrics:
            line += f" (macro {_metric(self.metrics, 'macro_f1'):.3f})"
        if self.previous_version:
            old = _metric(self.previous_metrics, key)
            line += f" (previous {self.previous_version}: {old:.3f}, {'+' if new >= old else ''}{new - old:.3f})"
        line += f"; train/dev/test {self.sizes.get('train', 0)}/{self.sizes.get('dev', 0)}/{self.sizes.get('test', 0)}"
        if not self.reused:
            line += f", {self.seconds:.0f} s"
        if self.kept_previous and self.discarded:
            line += (f"\n  kept {self.previous_version} active: {self.kept_why()}; "
                     f"{self.version} is discarded (its weights deleted, its scores kept; `--force-activate` "
                     "keeps and activates a new version anyway)")
        elif self.kept_previous:
            line += (f"\n  kept {self.previous_version} active: {self.kept_why()} "
                     f"(`annotator models use {self.version}` switches anyway)")
        elif self.activated:
            line += "; now active"
        if self.kind == SPANS and "partial_precision" in self.metrics:
            line += "\n  " + span_detail(self.metrics)
        return line


def span_detail(metrics: dict[str, Any]) -> str:
    """Precision and recall, partial and exact, with the counts (per test speech too), and per
    language (languages with at least ``PER_LANGUAGE_MIN`` test segments)."""
    from annotator.metrics import PER_LANGUAGE_MIN

    m = metrics
    line = (f"partial P {_metric(m, 'partial_precision'):.3f} R {_metric(m, 'partial_recall'):.3f}, "
            f"exact P {_metric(m, 'exact_precision'):.3f} R {_metric(m, 'exact_recall'):.3f}: "
            f"{m.get('n_pred', 0)} spans suggested for {m.get('n_gold', 0)} true ones in {m.get('n_docs', 0)} test "
            f"segments ({m.get('n_without_spans', 0)} without a slogan)")
    speeches = m.get("n_speeches")
    if speeches:  # (scores recorded before they counted speeches do not say)
        line += (f" of {speeches} test speeches ({m.get('n_pred', 0) / speeches:.1f} suggested per speech, "
                 f"{m.get('n_gold', 0) / speeches:.1f} true)")
    langs = [(lang, s) for lang, s in (m.get("per_language") or {}).items() if s.get("n_docs", 0) >= PER_LANGUAGE_MIN]
    if langs:
        line += "; " + ", ".join(f"{lang} partial P {_metric(s, 'partial_precision'):.2f} R "
                                 f"{_metric(s, 'partial_recall'):.2f} F1 {_metric(s, 'partial_f1'):.2f}" for lang, s in langs)
    return line


def _metric(metrics: dict[str, Any], key: str) -> float:
    value = metrics.get(key)
    return float(value) if isinstance(value, (int, float)) else 0.0


def kept_because(new: dict[str, Any], previous_version: str, previous_now: dict[str, Any],
                 previous_recorded: dict[str, Any], key: str, unit: str = "items") -> str:
    """Why a new version must not replace the active one, in words ("" where it may): the one
    rule of every kind (segment frames, spans, frames for whole speeches). ``new`` and
    ``previous_now``: both versions' scores on the same test items; ``previous_recorded``: the
    active version's scores recorded when it was trained.

    A new version replaces the active one if it scores at least as well on the same test items,
    or if the active one cannot be scored (a broken version must not cost the new one). A new
    version scored on no test item never replaces one that was scored on some: its score of 0
    (or equal to the active one's 0 on the same empty test side) says nothing."""
    from annotator.metrics import scored_items

    if not previous_version or "error" in previous_now:
        return ""
    recorded = scored_items(previous_recorded) or 0
    if scored_items(new) == 0 and recorded:
        return (f"the new version was scored on 0 test {unit}, {previous_version} on {recorded} "
                "when it was trained")
    if _metric(new, key) < _metric(previous_now, key):
        return (f"the new version's test {key} {_metric(new, key):.3f} is below the active {previous_version}'s "
                f"{_metric(previous_now, key):.3f} on the same test {unit}")
    return ""


def recorded_metrics(store: Store, version: str) -> dict[str, Any]:
    """A registered version's scores as recorded when it was trained (on its own test split)."""
    entry = store.registered_model(version)
    return dict((entry or {}).get("meta", {}).get("metrics") or {}) if entry else {}


def training_recipe(kind: str, method: str, epochs: int, encoder: str, scheme: Scheme, digest: str,
                    sides: Sequence[Sequence[Example]], glossary: Sequence[str] = ()) -> str:
    """What a version is trained from: the labels, the split, the method and the base encoder
    (and for the quick slogan tagger, the glossary it knows).
    Two trainings with the same recipe would give the same version, so the second reuses the first."""
    import hashlib
    import json

    recipe = {"kind": kind, "method": method, "epochs": epochs if method == "finetune" else None,
              "encoder": encoder, "scheme": scheme.labels_key, "data": digest,
              "sides": [sorted(ex.id for ex in side) for side in sides], "format": training_format(kind, method)}
    if glossary:
        recipe["glossary"] = sorted(glossary)
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def training_format(kind: str, method: str) -> int:
    """The version of a method's training code (``TRAINING_FORMAT`` beside each model): a version
    trained by older code is never reused, it is retrained."""
    from annotator.ml.knn import KnnFrameModel
    from annotator.ml.linear import LinearFrameModel
    from annotator.ml.train import TRAINING_FORMAT

    if kind == FRAMES and method == "knn":
        return KnnFrameModel.TRAINING_FORMAT
    if kind == FRAMES and method == "linear":
        return LinearFrameModel.TRAINING_FORMAT
    if kind == SPANS and method == "linear":
        from annotator.ml.span_linear import LinearSpanTagger

        return LinearSpanTagger.TRAINING_FORMAT
    return TRAINING_FORMAT


def spans_method(method: str) -> str:
    """Slogan spans are fine-tuned only when asked (minutes); otherwise the quick tagger (seconds)."""
    return "finetune" if method == "finetune" else "linear"


def reusable_version(store: Store, kind: str, recipe: str) -> dict[str, Any] | None:
    """The newest registered version with this recipe whose folder is still there."""
    from annotator.ml.registry import read_meta, retired

    for m in reversed(store.registered_models()):
        extra = m["meta"].get("extra") or {}
        folder = Path(m["path"])
        if m["kind"] == kind and extra.get("recipe") == recipe and (folder / "meta.json").is_file():
            if retired(read_meta(folder)):
                continue  # discarded or pruned: no weights left to reuse
            return m
    return None


def train_kind(store: Store, scheme: Scheme, kind: str, base: str | None = None, method: str = "auto",
               epochs: int = 6, progress: Progress | None = None, activate: bool = True, force: bool = False,
               examples: list[Example] | None = None, reuse: bool = True,
               sides: tuple[list[Example], list[Example], list[Example]] | None = None) -> TrainOutcome:
    """Train one model kind on the project's gold labels and register the new version.

    ``examples`` replaces the project's gold labels; ``sides`` gives them already split into
    train, dev and test (labels from outside the project, whose speeches its split never places).

    ``method`` ``auto`` is the quick one of the kind (frames: ``linear``; spans: the quick
    tagger); ``finetune`` fine-tunes the encoder (minutes). With ``reuse`` (the default), a
    version already trained by the same recipe (labels, split, method, base encoder) is
    returned instead of training and writing a copy of it."""
    import time

    from annotator.ml.encoder_setup import resolve_base
    from annotator.ml.scoring import evaluate_frames, evaluate_spans
    from annotator.ml.train import save_version, train_frames, train_spans
    from annotator.services.evaluation.versions import active_on_test
    from annotator.services.models import register_and_activate

    started = time.perf_counter()
    if kind == SPANS:
        method = spans_method(method)
    elif method == "auto":
        method = "linear"
    store.register_scheme(scheme.name, scheme.hash, scheme.source, scheme.toml_text)
    if sides is not None:
        train, dev, test = (list(side) for side in sides)
        examples_used = [*train, *dev, *test]
    else:
        examples_used = examples if examples is not None else gold_examples(store, scheme)
        train, dev, test = kind_sides(store, kind, examples_used)  # spans: dev and test whole speeches
    base_dir = resolve_base(base)
    digest = data_hash(examples_used)
    from annotator.ml.embeddings import encoder_key

    _prepare_engine(base_dir, kind, method, [ex.text for ex in examples_used])

    glossary = [g.source_text for g in store.glossary()] if (kind, method) == (SPANS, "linear") else []
    recipe = training_recipe(kind, method, epochs, encoder_key(base_dir), scheme, digest, (train, dev, test),
                             glossary)
    if reuse and (existing := reusable_version(store, kind, recipe)) is not None:
        return _reused_outcome(store, existing, (train, dev, test), activate, force, started)
    from annotator.paths import check_models_writable

    check_models_writable()  # before minutes of training, not after

    def report(step: int, total: int, info: dict | None = None) -> None:
        if progress:
            progress(f"train:{kind}", step, total)

    dev_metrics: dict[str, Any] = {}
    engine_check: dict[str, Any] | None = None
    if kind == FRAMES and method in ("knn", "linear"):
        from annotator.ml.train import fit_quick_frames

        # The quick models: over sentence embeddings the project keeps, so retraining costs
        # the encoder only for texts it has not seen.
        model = fit_quick_frames(method, train, dev, base_dir, scheme.frame_ids,
                                 cache=store.embedding_cache(encoder_key(base_dir)))
        engine_check = _engine_check(model, FRAMES, method, dev, train)  # before scoring: it may pin PyTorch
        metrics = evaluate_frames(model, test)
        dev_metrics = evaluate_frames(model, dev) if dev else {}
        model.data_hash = digest
        folder = model.save(scheme=scheme.name, scheme_hash=scheme.hash, metrics=metrics)
    elif kind == FRAMES:
        result = train_frames(train, dev, base_dir, scheme.frame_ids, epochs=epochs, progress=report)
        metrics = evaluate_frames(result, test)
        folder = save_version(result, FRAMES, scheme.name, scheme.hash, digest, metrics, base=str(base_dir))
    elif kind == SPANS and method == "linear":
        from annotator.ml.train import fit_quick_spans

        tagger = fit_quick_spans(train, dev, base_dir, tuple(scheme.span_ids), glossary)
        engine_check = _engine_check(tagger, SPANS, method, dev, train)  # before scoring: it may pin PyTorch
        metrics = evaluate_spans(tagger, test)
        dev_metrics = tagger.dev_metrics
        folder = tagger.save(scheme=scheme.name, scheme_hash=scheme.hash, metrics=metrics, dev_metrics=dev_metrics)
    elif kind == SPANS:
        result = train_spans(train, dev, base_dir, tuple(scheme.span_ids), epochs=epochs, progress=report)
        metrics = evaluate_spans(result, test)
        folder = save_version(result, SPANS, scheme.name, scheme.hash, digest, metrics, base=str(base_dir))
    else:
        raise AnnotatorError(f"unknown model kind {kind!r}; use frames or spans")
    from annotator.ml.registry import add_meta_extra

    add_meta_extra(folder, recipe=recipe, dev_metrics=dev_metrics,
                   **({"engine": engine_check} if engine_check is not None else {}))

    previous, previous_metrics = active_on_test(store, kind, test)
    outcome = TrainOutcome(kind=kind, version="", method=method, folder=folder, metrics=metrics,
                           dev_metrics=dev_metrics,
                           previous_version=previous, previous_metrics=previous_metrics,
                           previous_recorded=recorded_metrics(store, previous) if previous else {},
                           sizes={"train": len(train), "dev": len(dev), "test": len(test)})
    # Never make the suggestions worse behind the user's back: a new version replaces the
    # active one only if it scores at least as well on the same test speeches.
    outcome.activated = activate and (force or outcome.better_than_previous())
    outcome.kept_previous = activate and not outcome.activated
    meta = register_and_activate(store, folder, activate=outcome.activated)
    outcome.version, outcome.method = meta.version, meta.method
    if outcome.kept_previous:
        discard(store, outcome)
    outcome.seconds = time.perf_counter() - started
    return outcome


def discard(store: Store, outcome: TrainOutcome) -> None:
    """A new version that may not replace the active one (:func:`kept_because`) is never used:
    its weights go (a fine-tuned one's are hundreds of MB), its meta.json stays."""
    from annotator.services.models import discard_version

    discard_version(store, outcome.folder, reason=outcome.kept_why())
    outcome.discarded = True


def _prepare_engine(base_dir: Path, kind: str, method: str, texts: Sequence[str]) -> None:
    """Convert the encoder a quick model predicts through (once), checked on the project's own
    labelled texts rather than the probe sentences."""
    from annotator.ml.engine import encoder_runner

    if method not in ("knn", "linear"):
        return
    if kind == SPANS:
        from annotator.ml.token_states import default_layer

        encoder_runner(base_dir, default_layer(base_dir), texts=texts)
    else:
        encoder_runner(base_dir, None, texts=texts)


def _engine_check(model: Any, kind: str, method: str, dev: Sequence[Example],
                  train: Sequence[Example]) -> dict[str, Any] | None:
    """The precision of the inference engine a quick version runs at on this CPU, chosen on its
    labelled dev (then train) segments (``ml.engine_checks.check_version``), before it is scored,
    so that its test scores are those of the engine its suggestions will come from; its
    ``meta.json`` keeps the check, and the CLI prints its line."""
    from annotator.ml.engine import note
    from annotator.ml.engine_checks import check_version

    record = check_version(model, kind, dev, train)
    if record is not None:
        note(f"check:{kind}:{id(model)}", f"engine: {method} {record['line']}")
    return record


def _reused_outcome(store: Store, existing: dict[str, Any], sides: tuple[list[Example], ...], activate: bool,
                    force: bool, started: float) -> TrainOutcome:
    import time

    from annotator.services.evaluation.versions import active_on_test

    meta = existing["meta"]
    train, dev, test = sides
    outcome = TrainOutcome(kind=existing["kind"], version=existing["version"], method=meta.get("method", ""),
                           folder=Path(existing["path"]), metrics=dict(meta.get("metrics") or {}),
                           dev_metrics=dict((meta.get("extra") or {}).get("dev_metrics") or {}),
                           sizes={"train": len(train), "dev": len(dev), "test": len(test)}, reused=True)
    # the same rule as for a new version: it becomes active only if it scores at least as well
    outcome.previous_version, outcome.previous_metrics = active_on_test(store, outcome.kind, test,
                                                                        unless=outcome.version)
    if outcome.previous_version:
        outcome.previous_recorded = recorded_metrics(store, outcome.previous_version)
    outcome.activated = activate and (force or outcome.better_than_previous())
    outcome.kept_previous = activate and not outcome.activated
    if outcome.activated:
        store.set_active_model(outcome.kind, outcome.version)
    outcome.seconds = time.perf_counter() - started
    return outcome


QUICK_FRAMES = ("knn", "linear")


def train_frames_choosing(store: Store, scheme: Scheme, methods: Sequence[str] = QUICK_FRAMES,
                          base: str | None = None, epochs: int = 6, progress: Progress | None = None,
                          activate: bool = True, force: bool = False, examples: list[Example] | None = None,
                          reuse: bool = True, sides: tuple[list[Example], list[Example], list[Example]] | None = None,
                          ) -> tuple[list[TrainOutcome], TrainOutcome]:
    """Train a frames version by each method, keep them all, and activate the one that scores
    best on dev (micro-F1, then macro-F1) — if it scores at least as well as the active
    version on the test speeches (or ``force``). Returns every outcome and the chosen one."""
    outcomes = [train_kind(store, scheme, FRAMES, base=base, method=m, epochs=epochs, progress=progress,
                           activate=False, examples=examples, reuse=reuse, sides=sides) for m in methods]
    chosen = max(outcomes, key=lambda o: (_metric(o.dev_metrics, "micro_f1"), _metric(o.dev_metrics, "macro_f1"),
                                          _metric(o.metrics, "micro_f1")))
    chosen.activated = activate and (force or chosen.better_than_previous())
    chosen.kept_previous = activate and not chosen.activated
    if chosen.activated:
        store.set_active_model(FRAMES, chosen.version)
    elif chosen.kept_previous and not chosen.reused:
        discard(store, chosen)
    return outcomes, chosen


def choice_line(outcomes: Sequence[TrainOutcome], chosen: TrainOutcome) -> str:
    """How the frames version was chosen: each candidate's dev and test micro-F1."""
    parts = [f"{o.method} dev {_metric(o.dev_metrics, 'micro_f1'):.3f} / test {_metric(o.metrics, 'micro_f1'):.3f}"
             for o in outcomes]
    return f"frames: chose {chosen.method} by dev micro-F1 ({'; '.join(parts)})"


# Which items each kind is trained, tuned and tested on, and how versions are scored on them
# (the active one against a new one, the report, the versions table): services.evaluation.

"""Fine-tune the frame classifier and the span tagger on gold examples and save them (they are
scored by ``ml.scoring``).

A plain PyTorch loop (AdamW, linear warmup then decay) rather than ``Trainer``: it is short, runs
the same on CPU and GPU, and reports progress through a callback the UI or CLI turns into a bar.
Both trainers keep the epoch that scores best on the dev split (frames: micro-F1 with tuned
thresholds; spans: SemEval partial-overlap F1) and stop after ``patience`` epochs without gain.
Frame thresholds are then tuned per label on dev, as a model version's ``meta.json`` records.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.examples import Example
from annotator.ml.frames import FrameClassifier
from annotator.ml.knn import KnnFrameModel
from annotator.ml.linear import LinearFrameModel
from annotator.metrics import (
    apply_thresholds,
    frame_scores_from_matrix,
    label_matrix,
    span_scores,
    tune_thresholds,
)
from annotator.ml.registry import ModelMeta, building, new_version_name, version_dir, write_meta
from annotator.ml.predictors import load_predictor
from annotator.ml.span_linear import LinearSpanTagger
from annotator.ml.spans import SpanTagger
from annotator.model_kinds import FRAMES, SPANS
from annotator.progress import StepProgress
from annotator.schemes import DEFAULT_SPAN_LABEL
from annotator.thresholds import DEFAULT_THRESHOLD, reaches


SPAN_LABELS = (DEFAULT_SPAN_LABEL,)
# From this many vocabulary rows on, word embeddings stay frozen unless asked otherwise.
LARGE_VOCABULARY = 100_000


@dataclass
class TrainResult:
    """A trained model in memory, with what :func:`save_version` writes beside it."""

    kind: str  # "frames" or "spans"
    model: Any
    tokenizer: Any
    labels: list[str]  # frames: the scheme's labels; spans: span labels, e.g. ["Slogan"]
    thresholds: dict[str, float] = field(default_factory=dict)
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    base: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    max_length: int = 128


@dataclass
class _Loop:
    """Settings shared by both trainers."""

    epochs: int
    lr: float
    batch_size: int
    max_length: int
    seed: int
    patience: int
    warmup_ratio: float
    weight_decay: float
    progress: StepProgress | None
    freeze_embeddings: bool | None = None


def bio_tags(span_labels: Sequence[str] = SPAN_LABELS) -> list[str]:
    """``["O", "B-Slogan", "I-Slogan", …]``: the token classes of a span tagger."""
    return ["O"] + [f"{p}-{lab}" for lab in span_labels for p in ("B", "I")]


def pick_device(device: str | None = None) -> Any:
    import torch

    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _load_base(base_dir: Path, auto_cls: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Tokenizer and a fresh (uncached: we are about to change its weights) model."""
    from annotator.ml.loading import _quiet_transformers, load_tokenizer, resolve_checkpoint
    from annotator.ml.registry import check_loadable

    from annotator.ml.delta import base_folder, is_delta

    folder = resolve_checkpoint(base_dir)
    if is_delta(folder):
        raise AnnotatorError(f"{folder}: a fine-tuned version kept as what differs from its base encoder; "
                             f"train from that encoder instead (--base {base_folder(folder)})")
    check_loadable(folder)  # pickles and a folder's own code, refused before anything reads it
    tokenizer = load_tokenizer(folder)
    if not getattr(tokenizer, "is_fast", False):
        raise AnnotatorError(f"{folder}: training needs a fast tokenizer (a tokenizer.json in the folder)")
    _quiet_transformers()
    model = auto_cls.from_pretrained(folder, local_files_only=True, use_safetensors=True, trust_remote_code=False,
                                     **kwargs)
    return tokenizer, model


def _maybe_freeze_embeddings(model: Any, loop: _Loop) -> None:
    """Fix the word embeddings when asked, or by default for a large vocabulary.

    A multilingual vocabulary (250k rows in e5) dwarfs the rest of the model: updating it costs
    much of a CPU step (about 40 % here), and moving only the tokens of the labelled languages
    would pull them away from the languages nobody labelled yet. A small random-init encoder
    must learn its embeddings, so the default leaves small vocabularies trainable.
    """
    embeddings = model.get_input_embeddings().weight
    if loop.freeze_embeddings is None:
        loop.freeze_embeddings = embeddings.shape[0] >= LARGE_VOCABULARY
    if loop.freeze_embeddings:
        embeddings.requires_grad_(False)


def _optimizer(model: Any, loop: _Loop, steps: int) -> tuple[Any, Any]:
    import torch
    from transformers import get_linear_schedule_with_warmup

    # No weight decay on biases and LayerNorm weights, as in BERT's recipe.
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": loop.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=loop.lr,
    )
    sched = get_linear_schedule_with_warmup(opt, int(loop.warmup_ratio * steps), steps)
    return opt, sched


def _run_loop(
    model: Any,
    n_train: int,
    batch: Callable[[list[int]], dict[str, Any]],
    evaluate: Callable[[], tuple[tuple[float, float], dict[str, Any]]] | None,
    loop: _Loop,
    device: Any,
    loss_fn: Callable[[Any, Any], Any] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Train, evaluating after each epoch; restores the best epoch's weights.

    ``loss_fn(logits, labels)`` replaces the model's own loss when given.

    ``batch(indices)`` gives model inputs including ``labels``; ``evaluate()`` gives a sort key
    (higher is better) and the dev figures for the history.
    """
    import torch

    if n_train == 0:
        raise AnnotatorError("no training examples: label some segments first")
    model.to(device)
    per_epoch = math.ceil(n_train / loop.batch_size)
    total = per_epoch * loop.epochs
    opt, sched = _optimizer(model, loop, total)
    rng = random.Random(loop.seed)
    history: list[dict[str, Any]] = []
    best_key: tuple[float, float] | None = None
    best_state, best_epoch, stale, step = None, 0, 0, 0
    for epoch in range(1, loop.epochs + 1):
        model.train()
        order = list(range(n_train))
        rng.shuffle(order)
        losses = []
        for k in range(0, n_train, loop.batch_size):
            inputs = {name: t.to(device) for name, t in batch(order[k : k + loop.batch_size]).items()}
            if loss_fn is None:
                loss = model(**inputs).loss
            else:
                labels = inputs.pop("labels")
                loss = loss_fn(model(**inputs).logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            losses.append(float(loss.detach()))
            if loop.progress:
                loop.progress(step, total, {"epoch": epoch, "loss": losses[-1]})
        record: dict[str, Any] = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if evaluate is None:
            history.append(record)
            best_epoch = epoch
            continue
        key, figures = evaluate()
        record.update(figures)
        history.append(record)
        if loop.progress:
            loop.progress(step, total, {"epoch": epoch, "dev": figures})
        if best_key is None or key > best_key:
            best_key, best_epoch, stale = key, epoch, 0
            best_state = {n: t.detach().to("cpu", copy=True) for n, t in model.state_dict().items()}
        else:
            stale += 1
            # Not before half the epochs: on a few hundred examples a tagger often scores 0 on
            # dev for its first epochs (the linear warm-up, the rare B/I tags) and then learns.
            learnt_something = best_key is not None and best_key[0] > 0
            if stale >= loop.patience and epoch >= (loop.epochs + 1) // 2 and learnt_something:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history, best_epoch


# ---------------------------------------------------------------- frames


def train_frames(
    examples_train: Sequence[Example],
    examples_dev: Sequence[Example],
    base_dir: Path,
    labels: Sequence[str],
    epochs: int = 10,
    lr: float = 5e-5,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
    progress: StepProgress | None = None,
    patience: int = 3,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    device: str | None = None,
    freeze_embeddings: bool | None = None,
) -> TrainResult:
    """Fine-tune a multi-label frame classifier from the encoder in ``base_dir``.

    Frames outside ``labels`` are ignored. With an empty dev split, all epochs run and the
    thresholds stay at 0.5. ``freeze_embeddings`` keeps the word embeddings fixed (default:
    only for vocabularies of ``LARGE_VOCABULARY`` rows or more, i.e. pretrained multilingual
    encoders). ``progress(step, total, info)`` is called after every step and after each dev
    evaluation; raising from it aborts training.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    labels = list(labels)
    if not labels:
        raise AnnotatorError("no frame labels given: the scheme defines none")
    loop = _Loop(epochs, lr, batch_size, max_length, seed, patience, warmup_ratio, weight_decay, progress,
                 freeze_embeddings)
    _seed_everything(seed)
    tokenizer, model = _load_base(
        Path(base_dir), AutoModelForSequenceClassification, num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
    )
    train_texts = [ex.text for ex in examples_train]
    y_train = torch.tensor(label_matrix((ex.frames for ex in examples_train), labels), dtype=torch.float32)
    dev_texts = [ex.text for ex in examples_dev]
    y_dev = label_matrix((ex.frames for ex in examples_dev), labels)

    def batch(idx: list[int]) -> dict[str, Any]:
        enc = tokenizer([train_texts[i] for i in idx], padding=True, truncation=True,
                        max_length=max_length, return_tensors="pt")
        return {**enc, "labels": y_train[idx]}

    predictor = FrameClassifier.in_memory(model, tokenizer, labels, max_length)

    def evaluate() -> tuple[tuple[float, float], dict[str, Any]]:
        probs = predictor.predict_matrix(dev_texts)
        tuned = frame_scores_from_matrix(y_dev, apply_thresholds(probs, tune_thresholds(probs, y_dev)), labels)
        loss = float(torch.nn.functional.binary_cross_entropy(
            torch.tensor(probs).clamp(1e-7, 1 - 1e-7), torch.tensor(y_dev, dtype=torch.float32)))
        return (tuned["micro_f1"], -loss), {"dev_micro_f1": tuned["micro_f1"], "dev_loss": loss}

    _maybe_freeze_embeddings(model, loop)
    history, best = _run_loop(model, len(train_texts), batch, evaluate if dev_texts else None, loop,
                              pick_device(device))
    thresholds = [DEFAULT_THRESHOLD] * len(labels)
    dev_metrics: dict[str, Any] = {}
    if dev_texts:
        probs = predictor.predict_matrix(dev_texts)
        thresholds = tune_thresholds(probs, y_dev)
        dev_metrics = frame_scores_from_matrix(y_dev, apply_thresholds(probs, thresholds), labels)
    return TrainResult(
        kind=FRAMES, model=model, tokenizer=tokenizer, labels=labels,
        thresholds=dict(zip(labels, thresholds)), dev_metrics=dev_metrics, history=history,
        best_epoch=best, base=str(base_dir), max_length=max_length,
        params=_params(loop, examples_train, examples_dev),
    )


def _params(loop: _Loop, train: Sequence[Example], dev: Sequence[Example]) -> dict[str, Any]:
    return {
        "epochs": loop.epochs, "lr": loop.lr, "batch_size": loop.batch_size, "max_length": loop.max_length,
        "seed": loop.seed, "patience": loop.patience, "warmup_ratio": loop.warmup_ratio,
        "weight_decay": loop.weight_decay, "freeze_embeddings": loop.freeze_embeddings,
        "n_train": len(train), "n_dev": len(dev),
    }


# ---------------------------------------------------------------- spans


def _span_windows(tokenizer: Any, examples: Sequence[Example], tags: Sequence[str], max_length: int
                  ) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids and BIO targets per window; long segments become overlapping windows so that
    slogans past the first ``max_length`` tokens still teach the model."""
    from annotator.ml.spans import char_spans_to_token_labels

    known = {t.split("-", 1)[1] for t in tags if "-" in t}
    enc = tokenizer([ex.text for ex in examples], truncation=True, max_length=max_length,
                    stride=max(1, max_length // 4), return_overflowing_tokens=True,
                    return_offsets_mapping=True)
    ids, targets = [], []
    for w, sample in enumerate(enc["overflow_to_sample_mapping"]):
        spans = [s for s in examples[sample].spans if s[2] in known]
        # Special tokens get -100 through their zero width; mark them explicitly all the same,
        # since some tokenizers give [CLS] a non-empty offset.
        offsets = [o if sid is not None else (0, 0) for o, sid in zip(enc["offset_mapping"][w], enc.sequence_ids(w))]
        ids.append(enc["input_ids"][w])
        targets.append(char_spans_to_token_labels(offsets, spans, tags))
    return ids, targets


def _tag_weights(targets: Sequence[Sequence[int]], n_tags: int, cap: float = 10.0) -> Any:
    """Class weights for BIO tags: slogans are a few tokens among hundreds of ``O``, and an
    unweighted loss learns to predict ``O`` everywhere. Each tag is weighted by the square root of
    how much rarer it is than ``O`` (tag 0), capped so a handful of examples cannot dominate."""
    import torch

    counts = np.bincount([t for row in targets for t in row if t >= 0], minlength=n_tags).astype(np.float64)
    weights = np.ones(n_tags)
    for tag in range(1, n_tags):
        if counts[tag] > 0:
            weights[tag] = min(cap, max(1.0, float(np.sqrt(counts[0] / counts[tag]))))
    return torch.tensor(weights, dtype=torch.float32)


def train_spans(
    examples_train: Sequence[Example],
    examples_dev: Sequence[Example],
    base_dir: Path,
    span_labels: Sequence[str] = SPAN_LABELS,
    epochs: int = 10,
    lr: float = 1e-4,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
    progress: StepProgress | None = None,
    patience: int = 3,
    warmup_ratio: float = 0.1,
    weight_decay: float = 0.01,
    device: str | None = None,
    freeze_embeddings: bool | None = None,
) -> TrainResult:
    """Fine-tune a BIO token classifier (``O, B-Slogan, I-Slogan``) from ``base_dir``.

    Gold character spans are aligned to tokens through the fast tokenizer's offsets; spans with
    labels outside ``span_labels`` are ignored. Keeps the epoch with the best dev partial-overlap F1.
    """
    import torch
    from transformers import AutoModelForTokenClassification

    tags = bio_tags(span_labels)
    loop = _Loop(epochs, lr, batch_size, max_length, seed, patience, warmup_ratio, weight_decay, progress,
                 freeze_embeddings)
    _seed_everything(seed)
    tokenizer, model = _load_base(
        Path(base_dir), AutoModelForTokenClassification, num_labels=len(tags),
        id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)},
    )
    ids, targets = _span_windows(tokenizer, examples_train, tags, max_length)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    dev_texts = [ex.text for ex in examples_dev]
    dev_gold = [[s for s in ex.spans if s[2] in span_labels] for ex in examples_dev]

    def batch(idx: list[int]) -> dict[str, Any]:
        width = max(len(ids[i]) for i in idx)
        input_ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            n = len(ids[i])
            input_ids[r, :n] = torch.tensor(ids[i])
            labels[r, :n] = torch.tensor(targets[i])
            mask[r, :n] = 1
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}

    predictor = SpanTagger.in_memory(model, tokenizer, tags, max_length)

    def evaluate() -> tuple[tuple[float, float], dict[str, Any]]:
        pred = predictor.predict_tuples(dev_texts)
        s = span_scores(dev_gold, pred)
        return (s["partial_f1"], s["exact_f1"]), {"dev_partial_f1": s["partial_f1"], "dev_exact_f1": s["exact_f1"]}

    _maybe_freeze_embeddings(model, loop)
    weights = _tag_weights(targets, len(tags))

    def weighted_loss(logits: Any, labels: Any) -> Any:
        return torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
            weight=weights.to(logits.device), ignore_index=-100)

    history, best = _run_loop(model, len(ids), batch, evaluate if dev_texts else None, loop, pick_device(device),
                              loss_fn=weighted_loss)
    thresholds = tune_span_thresholds(dev_gold, predictor.predict(dev_texts, thresholded=False)) if dev_texts else {}
    predictor.thresholds = thresholds
    dev_metrics = span_scores(dev_gold, predictor.predict_tuples(dev_texts)) if dev_texts else {}
    return TrainResult(
        kind=SPANS, model=model, tokenizer=tokenizer, labels=list(span_labels), thresholds=thresholds,
        dev_metrics=dev_metrics,
        history=history, best_epoch=best, base=str(base_dir), max_length=max_length,
        params={**_params(loop, examples_train, examples_dev), "tags": tags, "n_windows": len(ids)},
    )


SPAN_THRESHOLD_GRID = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 … 0.95


def tune_span_thresholds(gold: Sequence[Sequence[tuple[int, int, str]]], found: Sequence[Sequence[Any]]) -> dict[str, float]:
    """Per span label, the score threshold that maximises partial-overlap F1 on dev (ties: the
    higher threshold, fewer spans to reject). ``found`` are the tagger's unthresholded spans."""
    labels = sorted({s[2] for doc in gold for s in doc} | {sp.label for doc in found for sp in doc})
    out: dict[str, float] = {}
    for label in labels:
        gold_l = [[s for s in doc if s[2] == label] for doc in gold]
        best = (-1.0, 0.0)
        for t in (0.0, *SPAN_THRESHOLD_GRID):
            pred = [[(sp.start, sp.end, sp.label) for sp in doc if sp.label == label and reaches(sp.score, t)]
                    for doc in found]
            f1 = span_scores(gold_l, pred)["partial_f1"]
            if f1 >= best[0] - 1e-9:  # the grid ascends: on a tie the higher threshold wins
                best = (max(f1, best[0]), t)
        out[label] = best[1]
    return out


# ---------------------------------------------------------------- saving


def _unique_version(kind: str, version: str | None, root: Path | None) -> str:
    # new_version_name has one-second resolution; two saves in a second must not collide.
    name = version or new_version_name(kind)
    if version:
        return name
    candidate, n = name, 2
    while version_dir(kind, candidate, root).exists():
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def save_version(
    result: TrainResult,
    kind: str,
    scheme: str,
    scheme_hash: str,
    data_hash: str,
    metrics: dict[str, Any],
    base: str,
    root: Path | None = None,
    version: str | None = None,
) -> Path:
    """Write a new registry version: what differs from the base encoder (``ml.delta``: the head
    and the tuned layers, bit for bit), its config and ``meta.json``; or, where the base is not
    a local folder, the whole ``model.safetensors`` and tokenizer.

    The folder is built in a staging directory and renamed into place, so a crash never leaves
    half a version. ``metrics`` are the test-split scores; dev scores go to ``extra``.
    """
    from annotator.ml.delta import save_delta
    from annotator.ml.registry import encoder_reference

    if kind != result.kind:
        raise AnnotatorError(f"a {result.kind} model cannot be saved as kind {kind!r}")
    name = _unique_version(kind, version, root)
    final = version_dir(kind, name, root)
    extra: dict[str, Any] = {"dev_metrics": result.dev_metrics, "history": result.history,
                             "best_epoch": result.best_epoch, "training": result.params,
                             "max_length": result.max_length}
    with building(final) as staging:
        model = result.model.to("cpu")
        base_dir = Path(base)
        if base_dir.is_dir() and any(base_dir.glob("*.safetensors")):
            auto_cls = _auto_class(kind)
            extra["delta"] = save_delta(model, base_dir, auto_cls, staging, encoder_reference(base_dir, root))
        else:
            model.save_pretrained(staging, safe_serialization=True)
            result.tokenizer.save_pretrained(staging)
        meta = ModelMeta(
            kind=kind, version=name, base=base, method="finetune", scheme=scheme, scheme_hash=scheme_hash,
            labels=list(result.labels), thresholds=dict(result.thresholds), data_hash=data_hash,
            metrics=metrics, extra=extra,
        )
        write_meta(staging, meta)
    return final


def _auto_class(kind: str) -> Any:
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    return AutoModelForTokenClassification if kind == SPANS else AutoModelForSequenceClassification


# ---------------------------------------------------------------- evaluation


TRAINING_FORMAT = 2  # of the fine-tuned heads and tagger: raise when their training changes


def fit_quick_frames(method: str, train: Sequence[Example], dev: Sequence[Example], encoder_dir: Path | str,
                     labels: Sequence[str], cache: Any = None) -> KnnFrameModel | LinearFrameModel:
    """A quick frames model (``knn`` or ``linear``) fitted on ``train`` and tuned on ``dev``, over
    the embeddings in ``cache``: the one way training, the report's curves and the UI's
    background retraining fit it. Fitted on the embeddings of the engine it predicts through:
    sentence embeddings barely move in int8 (99.7 % of the demo's frame decisions unchanged
    either way), and fitting on PyTorch's would cost the encoder every labelled speech twice
    (the context view reads whole speeches)."""
    if method not in ("knn", "linear"):
        raise AnnotatorError(f"{method!r} is not a quick frames method; use knn or linear")
    model = KnnFrameModel() if method == "knn" else LinearFrameModel()
    model.embedding_cache = cache
    if isinstance(model, KnnFrameModel):
        model.fit(train, encoder_dir, labels=labels)
        model.tune_thresholds(dev)
        return model
    return model.fit(train, encoder_dir, labels=labels, dev=dev)


def fit_quick_spans(train: Sequence[Example], dev: Sequence[Example], encoder_dir: Path | str,
                    span_labels: Sequence[str], glossary: Sequence[str] = ()) -> LinearSpanTagger:
    """The quick slogan tagger fitted on ``train`` and tuned on ``dev`` on float32 PyTorch's token states
    (``TRAINING_ENGINE``); it predicts through the process's engine. Token states of a cut
    encoder move more in int8 than sentence embeddings: a tagger fitted on the int8 states
    kept 81 % of its demo dev spans when run on float32 ones, one fitted on PyTorch's 95 %."""
    tagger = LinearSpanTagger()
    with _training_features(tagger):
        tagger.fit(train, encoder_dir, span_labels, dev, glossary=glossary)
    return tagger


@contextlib.contextmanager
def _training_features(model: Any) -> Iterator[None]:
    """Fit (and tune on dev) over the reference engine's features; predict through the
    process's engine afterwards, so that the fidelity check measures what the engine changes."""
    from annotator.ml.engine import TRAINING_ENGINE

    model.engine = TRAINING_ENGINE
    try:
        yield
    finally:
        model.engine = None


def frame_predictor(model: Any) -> Any:
    """The predictor suggestion uses for a frames version (saved, or in memory before saving);
    any model that answers ``predict_matrix`` with ``labels`` and ``thresholds`` (a baseline)
    is scored as it is."""
    if hasattr(model, "predict_matrix") and hasattr(model, "thresholds"):
        return model
    if isinstance(model, TrainResult):
        return FrameClassifier.in_memory(model.model, model.tokenizer, model.labels, model.max_length, model.thresholds)
    if isinstance(model, (KnnFrameModel, LinearFrameModel)):
        return model
    return load_predictor(FRAMES, model)


def span_predictor(model: Path | str | TrainResult | LinearSpanTagger) -> SpanTagger | LinearSpanTagger:
    """The predictor suggestion uses for a spans version (saved, or in memory before saving); any
    model that answers ``predict_tuples`` with ``span_labels`` (a baseline) is scored as it is."""
    if isinstance(model, LinearSpanTagger) or (hasattr(model, "predict_tuples") and hasattr(model, "span_labels")):
        return model
    if isinstance(model, TrainResult):
        return SpanTagger.in_memory(model.model, model.tokenizer, bio_tags(model.labels), model.max_length,
                                    model.thresholds)
    return load_predictor(SPANS, model)

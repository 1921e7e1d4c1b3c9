"""``annotator suggest --ray``: the active models' suggestions computed on Ray workers, written
here, into the one SQLite file, as they stream back.

The same predictors as the local path (``ml.predictors.load_predictor``, once per actor, from a
folder every node reads at the same path) and the same compute and write halves
(``services.suggest``); only where the computing runs differs:

* a frames version over sentence embeddings (nearest neighbours, linear): the workers embed the
  texts the project's embedding store lacks (the segments, and the neighbours and speeches a
  context-reading version looks at, which are segments too); this process stores the vectors
  and scores the segments from them with the local code (``suggest._run_frames``), which then
  finds every vector stored and runs no encoder;
* a fine-tuned frames version, and either slogan tagger: entirely on the workers;
* glossary matches and translations: here, as without Ray.

The segments are read in windows of :data:`WINDOW` (one Ray Data run each, its actors loading
the model once), and written back in one transaction per batch, in order. A run killed at any
point keeps every batch written (vectors included); a rerun covers only the segments the
version has not looked at, and writing replaces per segment and version, so nothing is doubled.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.progress import Progress
from annotator.ray_pool import RayOptions, connected, map_in_order
from annotator.services.suggest import (
    CHUNK,
    ActiveModels,
    SuggestReport,
    _run_frames,
    compute_embeddings,
    compute_frame_scores,
    compute_spans,
    embedding_keys,
    frame_contexts,
    reads_embeddings,
    suggest_all,
    write_frames,
    write_spans,
)
from annotator.store import Segment, Store

WINDOW = 65_536  # segments per Ray Data run: fewer runs (model loads), against the driver's memory
FORWARDED_ENV = ("ANNOTATOR_BF16", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # what a worker must see as we do


def suggest_all_on_ray(store: Store, options: RayOptions, only_missing: bool = True, limit: int | None = None,
                       progress: Progress | None = None, translate: bool = True) -> SuggestReport:
    """:func:`services.suggest.suggest_all` with the frames and spans versions run on Ray (started or
    joined at the first version with segments to do, and left at the end)."""
    with contextlib.ExitStack() as stack:
        ray = _LazyConnection(stack, options)
        run = functools.partial(run_on_ray, ray=ray)
        return suggest_all(store, only_missing, limit, progress, translate, run_model=run)


@dataclass
class _LazyConnection:
    """Ray, connected the first time it is needed (nothing to do: no Ray started)."""

    stack: contextlib.ExitStack
    options: RayOptions
    up: bool = field(default=False)

    def __call__(self) -> RayOptions:
        if not self.up:
            self.stack.enter_context(connected(self.options))
            self.up = True
        return self.options


# ------------------------------------------------------------------------------- workers
@dataclass(frozen=True)
class WorkerSpec:
    """What an actor loads and does: ``task`` ``embed`` (sentence embeddings for a frames version
    over embeddings), ``frames`` (a fine-tuned frames version's scores) or ``spans``."""

    kind: str
    folder: str
    task: str
    engine: str
    env: tuple[tuple[str, str], ...] = ()
    gpu: bool = False


class SuggestWorker:
    """One model per actor, loaded once; maps batches of texts to results (JSON or bytes, so that
    nothing but plain columns travels back)."""

    def __init__(self, spec: WorkerSpec) -> None:
        os.environ.update(dict(spec.env))
        from annotator.ml import engine
        from annotator.ml.predictors import load_predictor

        engine.set_engine(spec.engine)
        self.spec = spec
        self.model = load_predictor(spec.kind, spec.folder)
        if spec.gpu and hasattr(getattr(self.model, "model", None), "to"):  # a fine-tuned model in PyTorch
            self.model.model.to("cuda")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        if self.spec.task == "embed":
            vectors = compute_embeddings(self.model, texts).astype(np.float16)
            return {"key": np.array(embedding_keys(self.model, texts), dtype=object),
                    "vector": np.array([v.tobytes() for v in vectors], dtype=object)}
        if self.spec.task == "frames":
            return {"scores": np.array([json.dumps(sc) for sc in compute_frame_scores(self.model, texts)], dtype=object)}
        spans = compute_spans(self.model, texts)
        from annotator.ml.token_states import clear_memory

        clear_memory()  # an actor never sees these texts again: keep no token states for them
        return {"spans": np.array([json.dumps([[sp.start, sp.end, sp.label, float(sp.score)] for sp in found])
                                   for found in spans], dtype=object)}


def _spec(kind: str, folder: str, task: str, options: RayOptions) -> WorkerSpec:
    from annotator.ml.engine import engine_setting
    from annotator.paths import models_dir

    env = {"ANNOTATOR_MODELS": str(models_dir())}  # the same path on every node (README: a shared folder)
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    return WorkerSpec(kind, folder, task, engine_setting(), tuple(sorted(env.items())), options.gpus_per_actor > 0)


# -------------------------------------------------------------------------------- driver
def run_on_ray(store: Store, models: ActiveModels, kind: str, version: str, only_missing: bool,
               limit: int | None, progress: Progress | None, ray: Callable[[], RayOptions]) -> int:
    """One frames or spans version over the segments it covers, computed on Ray, written here
    (a :data:`services.suggest.ModelRun`)."""
    from annotator.ml.registry import version_method

    total = store.count_missing_run(version) if only_missing else store.segment_count()
    total = min(total, limit) if limit else total
    if not total:
        return 0
    folder = models.folder(kind)
    assert folder is not None
    method = version_method(folder)
    quick = method in ("knn", "linear")
    model = models.load(kind) if quick else None  # here too: its engine check recorded before the workers read it
    options = ray()
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(f"suggest:{kind}", done, total)

    for window in _windows(store, version, only_missing, limit):
        if kind == "frames" and model is not None and reads_embeddings(model):
            _frames_from_embeddings(store, model, version, window, _spec(kind, str(folder), "embed", options),
                                    options, tick)
        else:
            if model is not None:  # the engine's conversion made once, here, not by every actor at once
                _prepare_engine(model, kind)
            _on_workers(store, version, window, _spec(kind, str(folder), kind, options), options, tick,
                        thresholds=_thresholds(kind, folder))
    return done


def _thresholds(kind: str, folder: Any) -> dict[str, float]:
    """A fine-tuned frames version's thresholds, read as its predictor reads them (meta.json)."""
    if kind != "frames":
        return {}
    from annotator.ml.frames import read_meta_if_any
    from annotator.ml.loading import resolve_checkpoint

    meta = read_meta_if_any(resolve_checkpoint(folder))
    return dict(meta.thresholds) if meta else {}


def _prepare_engine(model: Any, kind: str) -> None:
    from annotator.ml.engine import encoder_runner

    if getattr(model, "encoder_dir", None) is not None:
        encoder_runner(model.encoder_dir, getattr(model, "layers", None) if kind == "spans" else None, model.engine)


def _windows(store: Store, version: str, only_missing: bool, limit: int | None,
             size: int = WINDOW) -> Iterator[list[Segment]]:
    """The segments to do, a window at a time, read when the window before is written."""
    left = limit
    if not only_missing:
        segments = store.iter_segments()
        while left is None or left > 0:
            window = [s for _, s in zip(range(min(size, left or size)), segments)]
            if not window:
                return
            yield window
            left = None if left is None else left - len(window)
        return
    last = 0
    while left is None or left > 0:
        window = store.segments_missing_run(version, min(size, left or size))
        if not window:
            return
        if window[0].id <= last:  # every segment up to ``last`` was written: a run that writes nothing
            raise AnnotatorError(f"segment {window[0].id} still has no run of {version} after its window; "
                                 "stopping rather than running it again")
        yield window
        last = window[-1].id
        left = None if left is None else left - len(window)


def _on_workers(store: Store, version: str, window: Sequence[Segment], spec: WorkerSpec, options: RayOptions,
                tick: Callable[[int], None], thresholds: dict[str, float]) -> None:
    """The whole version on the workers; each batch of results written as it comes back, in order."""
    from annotator.ml.spans import Span

    position = 0
    for batch in map_in_order([{"text": s.text} for s in window], functools.partial(SuggestWorker, spec), options):
        column = batch["spans" if spec.task == "spans" else "scores"]
        segments = window[position:position + len(column)]
        position += len(column)
        ids = [s.id for s in segments]
        if spec.task == "spans":
            write_spans(store, version, ids, [[Span(a, b, label, score, seg.text[a:b])
                                               for a, b, label, score in json.loads(found)]
                                              for seg, found in zip(segments, column)])
        else:
            write_frames(store, version, thresholds, ids, [json.loads(sc) for sc in column])
        tick(len(segments))


def _frames_from_embeddings(store: Store, model: Any, version: str, window: Sequence[Segment], spec: WorkerSpec,
                            options: RayOptions, tick: Callable[[int], None]) -> None:
    """Embeddings on the workers, into the store; the segments scored here from the stored
    vectors as soon as every vector they read (their own, their context's) is in."""
    from annotator.ml.embeddings import encoder_key

    cache = store.embedding_cache(encoder_key(model.encoder_dir))
    contexts = frame_contexts(store, model, window) or [None] * len(window)
    texts: dict[str, None] = {}  # every text the window's segments read, in the order they first need them
    ready_after: list[int] = []  # segment i can be scored once the first ready_after[i] texts are stored
    speeches: set[int] = set()
    for seg, ctx in zip(window, contexts):
        texts.setdefault(seg.text)
        if ctx is not None:
            around = [ctx.before, ctx.after]
            if id(ctx.speech) not in speeches:  # a speech's segments share its tuple
                speeches.add(id(ctx.speech))
                around += ctx.speech
            texts.update(dict.fromkeys(t for t in around if t and t not in texts))
        ready_after.append(len(texts))
    keys = embedding_keys(model, list(texts))
    stored = cache.known(keys)
    to_send = [i for i, k in enumerate(keys) if k not in stored]  # in this order, and back in it
    sent = {keys[i] for i in to_send}
    missing_in_first = [0]  # missing_in_first[n]: how many of the first n texts are to be computed
    for key in keys:
        missing_in_first.append(missing_in_first[-1] + (key in sent))
    waits = [missing_in_first[n] for n in ready_after]  # never decreasing, as ready_after
    scored = 0

    def score(received: int) -> None:
        nonlocal scored
        ready = scored
        while ready < len(window) and waits[ready] <= received:
            ready += 1
        for chunk_start in range(scored, ready, CHUNK):
            chunk = window[chunk_start:min(chunk_start + CHUNK, ready)]
            _run_frames(store, model, version, chunk)
            tick(len(chunk))
        scored = ready

    score(0)
    received, foreign = 0, 0
    if to_send:
        text_list = list(texts)
        rows = [{"text": text_list[i]} for i in to_send]
        for batch in map_in_order(rows, functools.partial(SuggestWorker, spec), options):
            vectors = {str(k): np.frombuffer(v, dtype=np.float16) for k, v in zip(batch["key"], batch["vector"])}
            foreign += sum(1 for k in vectors if k not in sent)
            cache.put(vectors)
            received += len(batch["key"])
            score(received)
    score(len(to_send))
    if foreign:
        from annotator.ml.engine import note

        note("ray:foreign-embeddings", f"engine: the Ray workers embedded {foreign} texts with another engine than "
                                        "this process, which embedded them again (install the same packages on every node)")


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

The segments are read in windows (one Ray Data run each, its actors loading the model once), and
written back in one transaction per chunk, in order. A run killed at any
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
from annotator.ml.context import context_texts
from annotator.progress import Progress
from annotator.ray_pool import RayOptions, connected, map_in_order, pool_size
from annotator.services import suggest
from annotator.services.suggest import (
    ActiveModels,
    SuggestReport,
    _chunks,
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

# A window (one Ray Data run: its actors start and load the model once) is this many chunks, or
# more on a big cluster, so that starting the actors (seconds) stays small beside the run; the
# driver holds a window's segments in memory (about 0.5 GB for a million).
WINDOW_CHUNKS = 256
WINDOW_CHUNKS_PER_ACTOR = 16
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
    """One model per actor, loaded once; maps rows (each the texts of one chunk: one call of the
    local path's compute function) to results as plain columns (JSON, bytes)."""

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
        out: dict[str, list[Any]] = {}
        for texts in batch["texts"]:
            for column, value in self.one(texts).items():
                out.setdefault(column, []).append(value)
        return {column: _column(values) for column, values in out.items()}

    def one(self, texts: Sequence[Any]) -> dict[str, Any]:
        texts = [str(t) for t in texts]
        if self.spec.task == "embed":
            vectors = compute_embeddings(self.model, texts).astype(np.float16)
            return {"keys": json.dumps(embedding_keys(self.model, texts)), "vectors": vectors.tobytes()}
        if self.spec.task == "frames":
            return {"result": json.dumps(compute_frame_scores(self.model, texts))}
        from annotator.ml.token_states import clear_memory

        spans = compute_spans(self.model, texts)
        clear_memory()  # an actor never sees these texts again: keep no token states for them
        return {"result": json.dumps([[[sp.start, sp.end, sp.label, float(sp.score)] for sp in found]
                                      for found in spans])}


def _column(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


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

    size = suggest.CHUNK * max(WINDOW_CHUNKS, WINDOW_CHUNKS_PER_ACTOR * pool_size(options))
    from_embeddings = kind == "frames" and model is not None and reads_embeddings(model)
    if not from_embeddings and model is not None:  # the engine's conversion made once, here, not by every actor at once
        _prepare_engine(model, kind)
    thresholds = {} if from_embeddings else _thresholds(kind, folder)
    for window in _windows(store, version, only_missing, limit, size):
        if from_embeddings:
            _frames_from_embeddings(store, model, version, window, _spec(kind, str(folder), "embed", options),
                                    options, tick)
        else:
            _on_workers(store, version, window, _spec(kind, str(folder), kind, options), options, tick,
                        thresholds=thresholds)
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
             size: int) -> Iterator[list[Segment]]:
    """The segments to do, ``size`` at a time (whole chunks), each read when the window before is written."""
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
    """The whole version on the workers, a chunk per call as the local path computes it; each
    chunk's results written as they come back, in order."""
    from annotator.ml.spans import Span

    chunks = list(_chunks(window))
    rows = [{"texts": [s.text for s in chunk]} for chunk in chunks]
    for chunk, row in zip(chunks, map_in_order(rows, functools.partial(SuggestWorker, spec), options), strict=True):
        ids, result = [s.id for s in chunk], json.loads(row["result"])
        if spec.task == "spans":
            write_spans(store, version, ids, [[Span(a, b, label, score, seg.text[a:b]) for a, b, label, score in found]
                                              for seg, found in zip(chunk, result)])
        else:
            write_frames(store, version, thresholds, ids, result)
        tick(len(chunk))


def _frames_from_embeddings(store: Store, model: Any, version: str, window: Sequence[Segment], spec: WorkerSpec,
                            options: RayOptions, tick: Callable[[int], None]) -> None:
    """The embeddings the store lacks, computed on the workers and stored here; each chunk scored
    here from the stored vectors (``_run_frames``, no encoder run) once the vectors it reads are in.

    The workers embed in the same calls as the local path would (per chunk: its segments' texts,
    then their contexts' texts, those not stored yet): the int8 engine's output depends a little
    on the batch a text is padded in, so that the same calls give the very same vectors."""
    from annotator.ml.embeddings import encoder_key

    cache = store.embedding_cache(encoder_key(model.encoder_dir))
    chunks = list(_chunks(window))
    calls: list[list[str]] = []  # the texts of each embedding call, in order
    expected: list[list[str]] = []  # their keys, as this process computes them
    ready_after: list[int] = []  # chunk c can be scored once this many calls are back
    sent: set[str] = set()
    chunk_contexts = []  # each chunk's, read once: for the texts to embed and again for its scores
    for chunk in chunks:
        contexts = frame_contexts(store, model, chunk)
        chunk_contexts.append(contexts)
        for texts in ([s.text for s in chunk], context_texts(contexts) if contexts is not None else []):
            texts = list(dict.fromkeys(texts))
            keys = embedding_keys(model, texts)
            stored = cache.known(keys)
            todo = [(k, t) for k, t in zip(keys, texts) if k not in stored and k not in sent]
            if todo:
                calls.append([t for _, t in todo])
                expected.append([k for k, _ in todo])
                sent.update(expected[-1])
        ready_after.append(len(calls))
    scored = received = foreign = 0

    def score_ready() -> None:
        nonlocal scored
        while scored < len(chunks) and ready_after[scored] <= received:
            _run_frames(store, model, version, chunks[scored], chunk_contexts[scored])
            tick(len(chunks[scored]))
            scored += 1

    score_ready()
    rows = [{"texts": texts} for texts in calls]
    for keys, row in zip(expected, map_in_order(rows, functools.partial(SuggestWorker, spec), options), strict=True):
        got = json.loads(row["keys"])
        vectors = np.frombuffer(row["vectors"], dtype=np.float16).reshape(len(got), -1)
        cache.put(dict(zip(got, vectors)))
        foreign += len(set(keys) - set(got))
        received += 1
        score_ready()
    if foreign:
        from annotator.ml.engine import note

        note("ray:foreign-embeddings", f"engine: the Ray workers embedded {foreign} texts with another engine than "
                                        "this process, which embedded them again (install the same packages on every node)")


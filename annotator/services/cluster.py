"""``annotator suggest --ray``: the active models' suggestions computed on Ray workers, written
here, into the one SQLite file, as they stream back.

The same predictors as the local path (``ml.predictors.load_predictor``, once per actor, from a
folder every node reads at the same path) and the same compute and write halves
(``services.suggest``): the workers compute, down to the rows to write, and this process (the
driver) plans the calls, ships texts and vectors, and writes.

* a frames version over sentence embeddings (nearest neighbours, linear) takes two kinds of
  worker call. *embed*: the texts the project's embedding store lacks (the segments, and the
  neighbours and speeches a context-reading version looks at, which are segments too), in the
  very calls the local path makes (per chunk: its segments' texts, then their contexts' texts,
  those not stored or embedded before: where PyTorch runs the encoder a vector may depend a
  little on the batch it is padded in, so same calls, same vectors); *score*: a chunk's
  segments with their contexts and every vector they read (from those calls, or from the
  store), scored by the local code (``suggest.compute_frame_scores``, no encoder run) into rows;
* a fine-tuned frames version, and either slogan tagger: one call per chunk, rows back;
* glossary matches and translations: here, as without Ray.

Each version runs on a pool of actors that load its model once, for the whole run. The
segments are read in windows; each chunk is written in one transaction, in order, with one
statement per table (``Store.replace_runs``; the vectors its embed calls computed with it), so a
run killed at any point keeps every chunk written, vectors included, and a rerun covers only
the segments the version has not looked at (writing replaces per segment and version, so
nothing is doubled).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.context import context_texts
from annotator.model_kinds import FRAMES, SPANS
from annotator.progress import Progress
from annotator.ray_pool import ActorPool, RayOptions, connected
from annotator.services import suggest
from annotator.services.suggest import (
    ActiveModels,
    ChunkRows,
    SuggestReport,
    _chunks,
    compute_embeddings,
    compute_frame_scores,
    compute_spans,
    embedding_keys,
    frame_contexts,
    frame_rows,
    frame_thresholds,
    reads_embeddings,
    span_rows,
    suggest_all,
    write_rows,
)
from annotator.store import Segment, Store

# A window (the segments read at once; the driver holds their texts and contexts) is this many
# chunks, or more on a big cluster, so that the pool's tail at the end of each (some actors idle
# while the last chunks finish) stays small beside it: about 0.5 GB for a million segments.
WINDOW_CHUNKS = 256
WINDOW_CHUNKS_PER_ACTOR = 16
FORWARDED_ENV = ("ANNOTATOR_BF16", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")  # what a worker must see as we do


class Pool(Protocol):
    """Workers that take calls (a task's name and its payload) and give back their results as
    they complete, each with the tag it was submitted with (``ray_pool.ActorPool``)."""

    size: int

    def free(self) -> int: ...

    def submit(self, tag: Hashable, task: str, payload: dict[str, Any]) -> None: ...

    def next(self) -> tuple[Hashable, dict[str, Any]]: ...


StartPool = Callable[["WorkerSpec"], contextlib.AbstractContextManager[Pool]]


def suggest_all_on_ray(store: Store, options: RayOptions, only_missing: bool = True, limit: int | None = None,
                       progress: Progress | None = None, translate: bool = True,
                       start_pool: StartPool | None = None) -> SuggestReport:
    """:func:`services.suggest.suggest_all` with the frames and spans versions run on Ray (started or
    joined at the first version with segments to do, and left at the end). ``start_pool``: the
    workers of a version (default: a pool of Ray actors; ``bench/bench_ray.py`` times the driver
    alone with recorded results)."""
    with contextlib.ExitStack() as stack:
        if start_pool is None:
            connection = _LazyConnection(stack, options)
            start_pool = lambda spec: ray_actors(spec, connection())  # noqa: E731
        run = functools.partial(run_on_ray, options=options, start_pool=start_pool)
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


@contextlib.contextmanager
def ray_actors(spec: WorkerSpec, options: RayOptions) -> Iterator[ActorPool]:
    """A pool of Ray actors, each with a :class:`SuggestWorker` of ``spec`` (connected already)."""
    pool = ActorPool(functools.partial(SuggestWorker, spec), options)
    try:
        yield pool
    finally:
        pool.close()


# ------------------------------------------------------------------------------- workers
@dataclass(frozen=True)
class WorkerSpec:
    """What an actor loads: the version of ``kind`` in ``folder``, under ``engine``."""

    kind: str
    folder: str
    engine: str
    env: tuple[tuple[str, str], ...] = ()
    gpu: bool = False


class SuggestWorker:
    """One model per actor, loaded once; each call (a task and its payload) gives back what the
    driver writes as it is. Tasks: ``embed`` (sentence embeddings, for a frames version over
    them), ``score`` (a chunk of such a version's frames from shipped vectors) and ``rows`` (a
    chunk of a fine-tuned frames version's, or of either slogan tagger's)."""

    def __init__(self, spec: WorkerSpec) -> None:
        os.environ.update(dict(spec.env))
        from annotator.ml import engine
        from annotator.ml.predictors import load_predictor

        engine.set_engine(spec.engine)
        self.spec = spec
        self.model = load_predictor(spec.kind, spec.folder)
        if spec.gpu and hasattr(getattr(self.model, "model", None), "to"):  # a fine-tuned model in PyTorch
            self.model.model.to("cuda")

    def __call__(self, task: str, payload: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        out = getattr(self, task)(**payload)
        out["seconds"] = time.perf_counter() - started  # the worker's own time (bench_ray: the per-worker rate)
        return out

    def embed(self, texts: Sequence[str]) -> dict[str, Any]:
        """``texts``' vectors as the store keeps them (key, float16 bytes)."""
        from annotator.ml.engine import encoder_runner

        vectors = compute_embeddings(self.model, texts).astype(np.float16)
        return {"keys": embedding_keys(self.model, texts), "blobs": [v.tobytes() for v in vectors],
                "runner": encoder_runner(self.model.encoder_dir, None, self.model.engine).name}

    def score(self, ids: Sequence[int], texts: Sequence[str], contexts: Sequence[Any] | None,
              vectors: dict[str, bytes]) -> dict[str, Any]:
        """A chunk's frames from the vectors shipped with it (every one it reads: no encoder run)."""
        shipped = _Shipped(vectors)
        self.model.embedding_cache = shipped
        try:
            scores = compute_frame_scores(self.model, texts, contexts)
        finally:
            self.model.embedding_cache = None
        if shipped.missing:
            return {"error": f"the driver sent no vector for {shipped.missing} text(s) a worker read: the workers "
                             "key their vectors otherwise than the driver (install the same packages on every node)"}
        return {"rows": frame_rows(ids, scores, frame_thresholds(self.model))}

    def rows(self, ids: Sequence[int], texts: Sequence[str], speeches: Sequence[int] | None = None) -> dict[str, Any]:
        """A chunk of a version that reads the texts themselves, as rows."""
        if self.spec.kind == FRAMES:
            return {"rows": frame_rows(ids, compute_frame_scores(self.model, texts), frame_thresholds(self.model))}
        from annotator.ml.token_states import clear_memory

        spans = compute_spans(self.model, texts, speeches)
        clear_memory()  # an actor never sees these texts again: keep no token states for them
        return {"rows": span_rows(ids, spans)}


class _Shipped:
    """The vectors a score call was sent, as the model's embedding cache (counting what it lacks)."""

    def __init__(self, vectors: dict[str, bytes]) -> None:
        self.vectors, self.missing = vectors, 0

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: np.frombuffer(self.vectors[k], dtype=np.float16).astype(np.float32)
                for k in keys if k in self.vectors}

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        self.missing += len(vectors)


def _spec(kind: str, folder: str, options: RayOptions) -> WorkerSpec:
    from annotator.ml.engine import engine_setting
    from annotator.paths import models_dir

    env = {"ANNOTATOR_MODELS": str(models_dir())}  # the same path on every node (README: a shared folder)
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    return WorkerSpec(kind, folder, engine_setting(), tuple(sorted(env.items())), options.gpus_per_actor > 0)


# -------------------------------------------------------------------------------- driver
def run_on_ray(store: Store, models: ActiveModels, kind: str, version: str, only_missing: bool,
               limit: int | None, progress: Progress | None, options: RayOptions, start_pool: StartPool) -> int:
    """One frames or spans version over the segments it covers, computed on the workers, written
    here (a :data:`services.suggest.ModelRun`)."""
    from annotator.ml.registry import version_method

    total = store.count_missing_run(version) if only_missing else store.segment_count()
    total = min(total, limit) if limit else total
    if not total:
        return 0
    folder = models.folder(kind)
    assert folder is not None
    quick = version_method(folder) in ("knn", "linear")
    model = models.load(kind) if quick else None  # here too: its engine check recorded before the workers read it
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(f"suggest:{kind}", done, total)

    from_embeddings = kind == FRAMES and model is not None and reads_embeddings(model)
    if model is not None:  # the engine's conversion made once, here, not by every actor at once
        _prepare_engine(model, kind)
    with start_pool(_spec(kind, str(folder), options)) as workers:
        size = suggest.CHUNK * max(WINDOW_CHUNKS, WINDOW_CHUNKS_PER_ACTOR * workers.size)
        for window in _windows(store, version, only_missing, limit, size):
            if from_embeddings:
                _frames_from_embeddings(store, model, version, window, workers, tick)
            else:
                _on_workers(store, version, window, workers, tick)
    return done


def _prepare_engine(model: Any, kind: str) -> None:
    from annotator.ml.engine import encoder_runner

    if getattr(model, "encoder_dir", None) is not None:
        encoder_runner(model.encoder_dir, getattr(model, "layers", None) if kind == SPANS else None, model.engine)


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


def _result(result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        raise AnnotatorError(result["error"])
    return result


def _on_workers(store: Store, version: str, window: Sequence[Segment], workers: Pool,
                tick: Callable[[int], None]) -> None:
    """The whole version on the workers, a chunk per call as the local path computes it; the
    chunks written in order, each as soon as it and those before it are back."""
    chunks = list(_chunks(window))
    back: dict[int, ChunkRows] = {}
    sent = written = 0
    while written < len(chunks):
        while sent < len(chunks) and workers.free() > 0:
            workers.submit((window[0].id, sent), "rows",
                           {"ids": [s.id for s in chunks[sent]], "texts": [s.text for s in chunks[sent]],
                            "speeches": [s.speech_id for s in chunks[sent]]})
            sent += 1
        (_, c), result = workers.next()  # type: ignore[misc]
        back[c] = _result(result)["rows"]
        while written in back:
            write_rows(store, version, back.pop(written))
            tick(len(chunks[written]))
            written += 1


@dataclass
class _Plan:
    """A window of a frames version over embeddings: its embed calls and what each chunk reads."""

    calls: list[list[str]] = field(default_factory=list)  # the texts of each embed call, in order
    call_keys: list[list[str]] = field(default_factory=list)  # their keys, as this process computes them
    call_chunk: list[int] = field(default_factory=list)  # the chunk whose transaction stores a call's vectors
    contexts: list[Any] = field(default_factory=list)  # per chunk, as frame_contexts gave them
    reads: list[list[str]] = field(default_factory=list)  # per chunk: every key its scoring reads
    stored: list[list[str]] = field(default_factory=list)  # per chunk: those of them the store held already
    waits: list[set[int]] = field(default_factory=list)  # per chunk: the calls that compute the others


def _plan(store: Store, model: Any, cache: Any, chunks: Sequence[Sequence[Segment]]) -> _Plan:
    """The embed calls the local path would make over these chunks, in its order (per chunk: its
    segments' texts, then their contexts' texts, each without what the store holds or a call
    before computes), and what each chunk's scoring reads."""
    plan = _Plan()
    made: dict[str, int] = {}  # key -> the call that computes it
    around = frame_contexts(store, model, [s for chunk in chunks for s in chunk])  # each speech read once
    start = 0
    for c, chunk in enumerate(chunks):
        contexts = around[start:start + len(chunk)] if around is not None else None
        start += len(chunk)
        reads: dict[str, None] = {}
        stored: set[str] = set()
        waits: set[int] = set()
        for texts in ([s.text for s in chunk], context_texts(contexts) if contexts is not None else []):
            texts = list(dict.fromkeys(texts))
            keys = embedding_keys(model, texts)
            held = cache.known([k for k in keys if k not in made])
            todo = [(k, t) for k, t in zip(keys, texts) if k not in held and k not in made]
            if todo:
                plan.calls.append([t for _, t in todo])
                plan.call_keys.append([k for k, _ in todo])
                plan.call_chunk.append(c)
                made.update((k, len(plan.calls) - 1) for k, _ in todo)
            reads.update(dict.fromkeys(keys))
            stored |= held
            waits.update(made[k] for k in keys if k in made)
        plan.contexts.append(contexts)
        plan.reads.append(list(reads))
        plan.stored.append([k for k in reads if k in stored])
        plan.waits.append(waits)
    return plan


def _frames_from_embeddings(store: Store, model: Any, version: str, window: Sequence[Segment], workers: Pool,
                            tick: Callable[[int], None]) -> None:
    """A window of a frames version over embeddings: the embed calls on the workers, then each
    chunk scored on the workers as soon as the vectors it reads are back (shipped with it), and
    written here in order, with the vectors its own calls computed. The driver keeps a vector
    until the last chunk that reads it is sent."""
    from annotator.ml.embeddings import encoder_key

    cache = store.embedding_cache(encoder_key(model.encoder_dir))
    chunks = list(_chunks(window))
    plan = _plan(store, model, cache, chunks)
    readers: dict[int, list[int]] = {}  # call -> the chunks waiting for it
    for c, waits in enumerate(plan.waits):
        for call in waits:
            readers.setdefault(call, []).append(c)
    uses: dict[str, int] = {}  # key -> chunks still to send that read it
    for c, reads in enumerate(plan.reads):
        for k in reads:
            uses[k] = uses.get(k, 0) + 1
    held: dict[str, bytes] = {}  # vectors back from the workers, until the last chunk reading them is sent
    computed: dict[int, list[tuple[str, bytes]]] = {}  # chunk -> the vectors its calls computed (written with it)
    ready = {c for c, waits in enumerate(plan.waits) if not waits}
    scored: dict[int, ChunkRows] = {}
    next_call = written = 0
    while written < len(chunks):
        while workers.free() > 0 and (ready or next_call < len(plan.calls)):
            if ready:  # scoring first: it frees the vectors and lets the chunks be written
                c = min(ready)
                ready.discard(c)
                workers.submit((window[0].id, "score", c), "score", _score_payload(chunks[c], plan, c, held, cache))
                for k in plan.reads[c]:
                    uses[k] -= 1
                    if not uses[k]:
                        held.pop(k, None)
            else:
                workers.submit((window[0].id, "embed", next_call), "embed", {"texts": plan.calls[next_call]})
                next_call += 1
        (_, task, i), result = workers.next()  # type: ignore[misc]
        result = _result(result)
        if task == "embed":
            keys = plan.call_keys[i]
            if list(result["keys"]) != keys:
                raise AnnotatorError(f"the Ray workers embed with {result['runner']} where this process keys the "
                                     "vectors otherwise: install the same packages on every node")
            rows = list(zip(keys, result["blobs"]))
            held.update(rows)
            computed.setdefault(plan.call_chunk[i], []).extend(rows)
            for c in readers.get(i, ()):
                plan.waits[c].discard(i)
                if not plan.waits[c]:
                    ready.add(c)
            continue
        scored[i] = result["rows"]
        while written in scored:
            with store.write():  # one transaction: the chunk's vectors, suggestions and runs
                cache.put_blobs(computed.pop(written, []))
                write_rows(store, version, scored.pop(written))
            tick(len(chunks[written]))
            written += 1


def _score_payload(chunk: Sequence[Segment], plan: _Plan, c: int, held: dict[str, bytes],
                   cache: Any) -> dict[str, Any]:
    """Chunk ``c``'s score call: its segments, their contexts and every vector they read."""
    vectors = cache.blobs(plan.stored[c]) if plan.stored[c] else {}
    vectors.update((k, held[k]) for k in plan.reads[c] if k in held)
    return {"ids": [s.id for s in chunk], "texts": [s.text for s in chunk], "contexts": plan.contexts[c],
            "vectors": vectors}

"""Ray, for the commands that spread their work over a cluster (``--ray``): connecting (a local
instance on this machine, or a cluster started with ``ray start --head``), mapping batches
through a pool of actors with Ray Data, the results coming back in input order as they complete
(``map_in_order``: the rows known at the start), and a pool of actors kept for as long as the
caller needs it, which takes calls as the caller has them (``ActorPool``).

The one module that imports ``ray`` (lazily: Ray is the optional ``cluster`` extra). What runs
on the actors is the callers' business (``services.cluster``, ``corpora.importer``); this module
knows nothing of segments or models. Nothing here writes: the callers' driver process keeps
the one SQLite file and writes the results back itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from annotator.errors import AnnotatorError, shown

INSTALL = "pip install -e '.[cluster]'"
LOCAL = "local"  # ``--ray`` without an address (or ``--ray local``): a Ray instance on this machine

Batch = dict[str, Any]  # column name -> numpy array, one row per item


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. ``address``: ``None``/``"local"`` starts Ray on this machine;
    ``"auto"``, ``"HOST:6379"`` or ``"ray://HOST:10001"`` joins a running cluster."""

    address: str | None = None
    num_cpus: int | None = None  # a local instance only: the cores Ray may use (default: all of them)
    actors: int | None = None  # the pool's size (default: as many as the cluster's CPUs / GPUs allow)
    cpus_per_actor: float = 1.0  # one model per actor, one core each: the int8 engine's best (bench_suggest)
    gpus_per_actor: float = 0.0

    @property
    def local(self) -> bool:
        return self.address in (None, "", LOCAL)


def require_ray() -> Any:
    """The ``ray`` module, or one line saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise AnnotatorError(f"--ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def connected(options: RayOptions) -> Iterator[None]:
    """Ray started here (and shut down after) or joined (and left after). A process that is
    connected already (a test's fixture, a notebook) keeps its connection, before and after."""
    ray = require_ray()
    if ray.is_initialized():
        yield
        return
    try:
        if options.local:
            ray.init(address=LOCAL, num_cpus=options.num_cpus or cores(), include_dashboard=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=options.address, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = "a local Ray instance" if options.local else f"the Ray cluster at {shown(options.address)}"
        raise AnnotatorError(f"could not start or join {where} ({_one_line(exc)}); for a cluster, run "
                             "`ray start --head` on one machine and give its HOST:6379") from None
    try:
        yield
    finally:
        ray.shutdown()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("…" if len(text) > 200 else "")


def pool_size(options: RayOptions) -> int:
    """The actors the cluster can hold at once (``options.actors`` if given)."""
    if options.actors:
        return options.actors
    ray = require_ray()
    resources = ray.cluster_resources()
    size = int(resources.get("CPU", 1) // max(options.cpus_per_actor, 1e-9))
    if options.gpus_per_actor:
        size = min(size, int(resources.get("GPU", 0) // options.gpus_per_actor))
    if size < 1:
        raise AnnotatorError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} "
                             f"GPUs: not enough for one actor of {options.cpus_per_actor:g} CPU and "
                             f"{options.gpus_per_actor:g} GPU")
    return size


class _PoolWorker:
    """A Ray Data actor: builds its worker once (a model loaded once per actor), then maps batches."""

    def __init__(self, make_worker: Callable[[], Callable[[Batch], Batch]]) -> None:
        self.work = make_worker()

    def __call__(self, batch: Batch) -> Batch:
        return self.work(batch)


def map_in_order(rows: Sequence[dict[str, Any]], make_worker: Callable[[], Callable[[Batch], Batch]],
                 options: RayOptions, rows_per_call: int = 1) -> Iterator[dict[str, Any]]:
    """Every row through a worker that ``make_worker()`` builds once per actor (a callable from a
    batch of ``rows_per_call`` rows, column -> array, to a batch of as many result rows); the
    result rows in the order of ``rows``, each as soon as it and all before it are done. Must run
    inside :func:`connected`; ``make_worker`` must pickle (a module-level class or function, a
    partial of one)."""
    require_ray()
    import ray.data

    if not rows:
        return
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False  # the caller reports progress in its own units
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes on bars and plans: not the user's business
    calls = -(-len(rows) // rows_per_call)
    dataset = ray.data.from_items(list(rows), override_num_blocks=calls).map_batches(
        _PoolWorker, fn_constructor_args=(make_worker,), batch_size=rows_per_call, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(pool_size(options), calls)),
        num_cpus=options.cpus_per_actor, num_gpus=options.gpus_per_actor or None)
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
        columns = list(batch)
        for i in range(len(batch[columns[0]]) if columns else 0):
            yield {c: batch[c][i] for c in columns}


RESTARTS = 3  # an actor lost with its node is started again, and its calls retried, this many times


class _Actor:
    """A Ray actor: builds its worker once (a model loaded once per actor), then runs calls. A
    worker that cannot be built (a model folder missing on its node) fails each call with its
    error, rather than the actor dying and starting again to fail the same way."""

    def __init__(self, make_worker: Callable[[], Callable[..., Any]]) -> None:
        try:
            self.work, self.failed = make_worker(), None
        except Exception as exc:  # noqa: BLE001 - said by every call, on the driver
            self.failed = exc

    def run(self, *args: Any) -> Any:
        if self.failed is not None:
            raise self.failed
        return self.work(*args)


class ActorPool:
    """Actors that each build their worker once (``make_worker()``: it must pickle) and keep it
    until :meth:`close`. The caller submits calls as it has them, at most :meth:`free` at a time
    (``depth`` per actor, so that none waits for its next call), and takes each result as it
    completes, in any order, with the tag it was submitted with (:meth:`next`). Must be used
    inside :func:`connected`."""

    def __init__(self, make_worker: Callable[[], Callable[..., Any]], options: RayOptions, depth: int = 2) -> None:
        ray = require_ray()
        self.size = pool_size(options)
        actor = ray.remote(num_cpus=options.cpus_per_actor, num_gpus=options.gpus_per_actor or 0,
                           max_restarts=RESTARTS, max_task_retries=RESTARTS)(_Actor)
        self._actors = [actor.remote(make_worker) for _ in range(self.size)]
        self._load = [0] * self.size
        self._depth = depth
        self._running: dict[Any, tuple[int, Any]] = {}  # object ref -> (actor, tag)

    def free(self) -> int:
        """How many more calls may be submitted now."""
        return self.size * self._depth - len(self._running)

    def submit(self, tag: Any, *args: Any) -> None:
        """``worker(*args)`` on the least busy actor."""
        i = min(range(self.size), key=self._load.__getitem__)
        self._running[self._actors[i].run.remote(*args)] = (i, tag)
        self._load[i] += 1

    def next(self) -> tuple[Any, Any]:
        """The first call to complete: its tag and its result (a worker's error, in one line)."""
        ray = require_ray()
        if not self._running:
            raise RuntimeError("ActorPool.next() with no call running")
        [ref], _ = ray.wait(list(self._running), num_returns=1)
        i, tag = self._running.pop(ref)
        self._load[i] -= 1
        try:
            return tag, ray.get(ref)
        except ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc
            what = (" ".join(str(cause).split()) if isinstance(cause, AnnotatorError)  # ours: whole
                    else f"{type(cause).__name__}: {_one_line(cause)}")
            raise AnnotatorError(f"a Ray worker failed: {what}") from None

    def close(self) -> None:
        ray = require_ray()
        for actor in self._actors:
            ray.kill(actor)
        self._actors, self._running = [], {}

"""``annotator suggest --ray`` against the local path, on this machine, in one run; the driver
timed alone; and what a cluster would make of ParlaMint.

Fresh copies of a project (the demo: ``annotator demo --no-ui``) lose the active frames and
spans versions' suggestions and every stored sentence embedding, so that every path runs the
encoder over every segment. One copy is filled by the local path (``suggest_all``), another
through Ray (``suggest_all_on_ray``: a local Ray instance, or ``--address`` to join a cluster);
the Ray figures are given with and without starting Ray. The two copies' suggestions, runs
(uncertainty and top scores) and stored vectors are then compared, exactly.

**The driver alone.** The Ray run records what each worker call sent back (the rows to write,
the vectors) and how long the worker took; a third copy is then filled by the very driver code
(``run_on_ray``) with those results handed back at once, in place of the workers, and no Ray at
all: the driver's whole share (reading the segments and their contexts, planning the calls,
packing each call, unpacking and writing its rows, one transaction per chunk), timed on its own.
Its segments/s is the most one driver can write, whatever the cluster. The calls' payloads and
results go through pickle, as Ray would move them. The copy it fills must equal the Ray copy.

**The projection** for ParlaMint uses the two measured rates: the workers' (segments per second
of one worker's own time, both models) times the cluster's cores, against the driver's; twice:
as measured (the workers sharing this machine's cores; the driver's wall time), and each on cores
of its own (the run again with one actor alone; the driver's CPU time).

Run from the repository root: ``.venv/bin/python bench/bench_ray.py --db annotator.db [--json]``
(the copies go to a temporary folder; the project is not touched).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import pickle
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARLAMINT_WORDS = 1.2e9  # ParlaMint 4.1: about 1.2 billion words in 29 parliaments
WORDS_PER_SEGMENT = 22  # a parliamentary sentence: 20-25 words


def fresh_copy(db: Path, folder: Path, name: str) -> Path:
    """A copy of the project without the active versions' suggestions and without stored vectors."""
    from annotator.store import Store

    target = folder / name
    source = Store.open(db)  # a consistent copy, WAL included
    source.db.execute("VACUUM INTO ?", [str(target)])
    versions = list(source.active_models().values())
    source.close()
    conn = sqlite3.connect(target)
    marks = ",".join("?" * len(versions))
    with conn:
        conn.execute(f"DELETE FROM suggestions WHERE model_version IN ({marks})", versions)
        conn.execute(f"DELETE FROM suggestion_runs WHERE model_version IN ({marks})", versions)
        conn.execute("DELETE FROM text_embeddings")
    conn.close()
    return target


def forget_loaded() -> None:
    """Each path loads its models itself (none kept from the one before)."""
    from annotator.ml import engine, token_states
    from annotator.services.suggest import ActiveModels

    ActiveModels._cache.clear()
    engine.forget_runners()
    token_states.clear_memory()


def stored(db: Path, vectors: bool = True) -> dict[str, list]:
    conn = sqlite3.connect(db)
    try:
        return {
            "suggestions": conn.execute('SELECT segment_id, model_version, kind, label, start, "end", score, extra '
                                        "FROM suggestions ORDER BY 1, 2, 3, 4, 5, 6").fetchall(),
            "runs": conn.execute("SELECT segment_id, model_version, uncertainty, info FROM suggestion_runs "
                                 "ORDER BY 1, 2").fetchall(),
            "vectors": conn.execute("SELECT encoder, text_key, vector FROM text_embeddings ORDER BY 1, 2").fetchall()
            if vectors else [],
        }
    finally:
        conn.close()


def prefill(db: Path, count: int, encoder: str, dim: int) -> None:
    """``count`` vectors more in a copy's embedding store, under random keys of the project's
    encoder: the store of a large project, which each new vector joins."""
    conn = sqlite3.connect(db)
    blob = bytes(2 * dim)
    with conn:
        for start in range(0, count, 100_000):
            keys = sorted(hashlib.sha1(f"stored-{i}".encode()).hexdigest()
                          for i in range(start, min(count, start + 100_000)))
            conn.executemany("INSERT INTO text_embeddings (encoder, text_key, vector) VALUES (?, ?, ?)",
                             [(encoder, key, blob) for key in keys])
    conn.close()


def same_as_ray(ray_db: Path, driver_db: Path) -> bool:
    """The driver's copy holds the Ray copy's suggestions and runs, and its vectors (beside any prefilled)."""
    x, y = stored(ray_db, vectors=False), stored(driver_db, vectors=False)
    if x != y:
        return False
    ray_vectors = stored(ray_db)["vectors"]
    conn = sqlite3.connect(driver_db)
    try:
        return all(conn.execute("SELECT vector FROM text_embeddings WHERE encoder = ? AND text_key = ?",
                                [encoder, key]).fetchone() == (vector,) for encoder, key, vector in ray_vectors)
    finally:
        conn.close()


def same_suggestions(a: Path, b: Path) -> dict:
    """Whether two copies hold the very same suggestions (scores to the last bit), runs
    (uncertainty, top scores) and vectors; and, if the labels and spans are the same, how far
    the scores lie apart."""
    x, y = stored(a), stored(b)
    same_labels = [r[:6] for r in x["suggestions"]] == [r[:6] for r in y["suggestions"]]
    return {"rows": len(x["suggestions"]), "runs": len(x["runs"]), "vectors": len(x["vectors"]),
            "identical": x == y, "identical_labels_and_spans": same_labels,
            "identical_runs": x["runs"] == y["runs"], "identical_vectors": x["vectors"] == y["vectors"],
            "max_score_difference": max((abs(p[6] - q[6]) for p, q in zip(x["suggestions"], y["suggestions"])),
                                        default=0.0) if same_labels else None}


class Recorder:
    """Every version's worker calls on the real pool, their results kept with the workers' own
    time (and pickled once the run is over, as Ray moved them)."""

    def __init__(self) -> None:
        self.results: dict[tuple, Any] = {}
        self.worker_s: dict[str, float] = collections.defaultdict(float)
        self.sizes: dict[str, int] = {}

    def freeze(self) -> None:
        """The results pickled, as Ray hands them to the driver (which unpickles them)."""
        self.results = {key: pickle.dumps(result) for key, result in self.results.items()}

    def start(self, options: Any) -> Any:
        from annotator.services.cluster import ray_actors

        @contextlib.contextmanager
        def start_pool(spec: Any):
            with ray_actors(spec, options) as pool:
                self.sizes[spec.kind] = pool.size
                yield _Recording(pool, spec.kind, self)

        return start_pool


class _Recording:
    def __init__(self, pool: Any, kind: str, recorder: Recorder) -> None:
        self.pool, self.kind, self.recorder, self.size = pool, kind, recorder, pool.size

    def free(self) -> int:
        return self.pool.free()

    def submit(self, tag: Any, task: str, payload: dict) -> None:
        self.pool.submit(tag, task, payload)

    def next(self) -> tuple[Any, dict]:
        tag, result = self.pool.next()
        self.recorder.results[(self.kind, tag)] = result
        self.recorder.worker_s[self.kind] += result.get("seconds", 0.0)
        return tag, result


class Replay:
    """The recorded results, handed back at once in place of the workers: the driver alone,
    timed per version (from its pool's start to its end)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.driver_s: dict[str, float] = {}
        self.cpu_s: dict[str, float] = {}  # the process's CPU time: what an idle core would take
        self.write_s: dict[str, float] = {}  # of driver_s, inside the write transactions
        self.kind: str | None = None

    @contextlib.contextmanager
    def start_pool(self, spec: Any):
        self.kind, self.write_s[spec.kind] = spec.kind, 0.0
        started, cpu = time.perf_counter(), time.process_time()
        yield _Replaying(self.recorder, spec.kind)
        self.driver_s[spec.kind] = time.perf_counter() - started
        self.cpu_s[spec.kind] = time.process_time() - cpu
        self.kind = None

    @contextlib.contextmanager
    def timing_writes(self):
        """The time spent in the store's outermost write transactions, while a version runs."""
        from annotator.store.base import StorePart

        plain, replay = StorePart.write, self

        @contextlib.contextmanager
        def timed(part: Any, wait: float | None = None):
            outermost, started = not part.db.conn.in_transaction, time.perf_counter()
            with plain(part, wait) as db:
                yield db
            if outermost and replay.kind:
                replay.write_s[replay.kind] += time.perf_counter() - started

        StorePart.write = timed
        try:
            yield
        finally:
            StorePart.write = plain


class _Replaying:
    def __init__(self, recorder: Recorder, kind: str) -> None:
        self.recorder, self.kind = recorder, kind
        self.size = recorder.sizes[kind]
        self.queue: collections.deque = collections.deque()

    def free(self) -> int:
        return 2 * self.size - len(self.queue)

    def submit(self, tag: Any, task: str, payload: dict) -> None:
        pickle.dumps(payload)  # what Ray would serialise to send it
        self.queue.append(tag)

    def next(self) -> tuple[Any, dict]:
        tag = self.queue.popleft()
        return tag, pickle.loads(self.recorder.results[(self.kind, tag)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("annotator.db"))
    ap.add_argument("--address", default=None, help="join this Ray cluster instead of starting Ray here")
    ap.add_argument("--actors", type=int, default=None, help="actors in the pool (default: one per CPU)")
    ap.add_argument("--nodes", type=int, default=16, help="for the projection: nodes in the cluster")
    ap.add_argument("--node-cores", type=int, default=16, help="for the projection: cores per node")
    ap.add_argument("--words-per-segment", type=float, default=WORDS_PER_SEGMENT)
    ap.add_argument("--driver-repeats", type=int, default=5, help="times the driver alone runs (median reported)")
    ap.add_argument("--stored-vectors", type=int, default=0,
                    help="the driver alone writes into a store holding this many vectors already (a large project's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from annotator.ml.engine import threads
    from annotator.ray_pool import RayOptions, connected, pool_size
    from annotator.services.cluster import suggest_all_on_ray
    from annotator.services.suggest import ActiveModels, embedding_keys, reads_embeddings, suggest_all
    from annotator.store import Store

    if not args.db.exists():
        sys.exit(f"{args.db}: no project; run `annotator demo --no-ui` first and pass its --db")
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as scratch:
        local_db = fresh_copy(args.db, Path(scratch), "local.db")
        ray_db = fresh_copy(args.db, Path(scratch), "ray.db")
        store = Store.open(local_db)
        segments, versions = store.segment_count(), store.active_models()
        store.close()

        forget_loaded()
        store = Store.open(local_db)
        started = time.perf_counter()
        suggest_all(store, translate=False)
        local_s = time.perf_counter() - started
        store.close()

        forget_loaded()
        options = RayOptions(address=args.address, actors=args.actors)
        recorder = Recorder()
        started = time.perf_counter()
        with connected(options):
            ray_start_s = time.perf_counter() - started
            actors = pool_size(options)
            store = Store.open(ray_db)
            started = time.perf_counter()
            suggest_all_on_ray(store, options, translate=False, start_pool=recorder.start(options))
            ray_run_s = time.perf_counter() - started
            store.close()
            # the same run again with one actor: a worker's rate where no other one shares its cores
            forget_loaded()
            alone, one = Recorder(), RayOptions(address=args.address, actors=1)
            store = Store.open(fresh_copy(args.db, Path(scratch), "alone.db"))
            suggest_all_on_ray(store, one, translate=False, start_pool=alone.start(one))
            store.close()
        comparison = same_suggestions(local_db, ray_db)

        recorder.freeze()
        base = fresh_copy(args.db, Path(scratch), "driver-base.db")
        if args.stored_vectors:
            [(encoder, dim)] = sqlite3.connect(ray_db).execute(
                "SELECT encoder, length(vector) / 2 FROM text_embeddings LIMIT 1").fetchall()
            prefill(base, args.stored_vectors, encoder, dim)
        replays, replayed = [], True
        for repeat in range(args.driver_repeats):  # the driver alone is quick: its best and median of a few
            driver_db = Path(scratch) / f"driver{repeat}.db"
            shutil.copy(base, driver_db)
            replay = Replay(recorder)
            store = Store.open(driver_db)
            for kind in ("frames", "spans"):  # loaded before the clock, as the driver loads them before its pools
                model = ActiveModels(store).load(kind)
                if kind == "frames" and reads_embeddings(model):
                    embedding_keys(model, ["-"])  # its encoder's runner too (the keys name it), once per run
            with replay.timing_writes():
                suggest_all_on_ray(store, options, translate=False, start_pool=replay.start_pool)
            store.close()
            replayed = replayed and same_as_ray(ray_db, driver_db)
            replays.append(replay)
            driver_db.unlink()

    by_total = sorted(replays, key=lambda r: sum(r.driver_s.values()))
    best, median = by_total[0].driver_s, by_total[len(by_total) // 2].driver_s
    cpu = sorted(replays, key=lambda r: sum(r.cpu_s.values()))[len(replays) // 2].cpu_s
    writes = sorted(replays, key=lambda r: sum(r.write_s.values()))[len(replays) // 2].write_s
    driver_s = sum(median.values())
    driver_rate = segments / driver_s
    worker_s = sum(recorder.worker_s.values())
    per_worker = segments / worker_s  # both models, per second of one worker's own time
    local_rate = segments / local_s
    ray_rate = segments / ray_run_s
    per_worker_alone = segments / sum(alone.worker_s.values())
    driver_rate_cpu = segments / sum(cpu.values())
    total_segments = PARLAMINT_WORDS / args.words_per_segment
    cores = args.nodes * args.node_cores

    def projection(worker_rate: float, driver: float) -> dict:
        cluster = min(worker_rate * cores, driver)
        return {"per_worker_seg_s": round(worker_rate, 1), "workers_seg_s": round(worker_rate * cores),
                "driver_seg_s": round(driver), "cluster_seg_s": round(cluster),
                "bound_by": "the workers" if worker_rate * cores <= driver else "the driver",
                "hours": round(total_segments / cluster / 3600, 1)}
    summary = {
        "segments": segments, "cores_here": threads(), "ray_actors": actors, "versions": versions,
        "local_s": round(local_s, 2), "local_seg_s": round(local_rate, 1),
        "ray_start_s": round(ray_start_s, 2), "ray_run_s": round(ray_run_s, 2), "ray_seg_s": round(ray_rate, 1),
        "ray_seg_s_with_start": round(segments / (ray_start_s + ray_run_s), 1),
        "overhead_ratio": round(ray_run_s / local_s, 2),
        "overhead_ratio_with_start": round((ray_start_s + ray_run_s) / local_s, 2),
        "same_suggestions": comparison,
        "workers": {"seconds": {k: round(v, 2) for k, v in recorder.worker_s.items()},
                    "per_worker_seg_s": round(per_worker, 1),
                    "alone_seconds": {k: round(v, 2) for k, v in alone.worker_s.items()},
                    "per_worker_seg_s_alone": round(per_worker_alone, 1)},
        "driver": {"repeats": len(replays), "stored_vectors_before": args.stored_vectors,
                   "seconds_median": {k: round(v, 3) for k, v in median.items()},
                   "seg_s_median": {k: round(segments / v) for k, v in median.items()},
                   "seg_s_best": {k: round(segments / v) for k, v in best.items()},
                   "driver_seg_s": round(driver_rate), "driver_seg_s_best": round(segments / sum(best.values())),
                   "cpu_seconds_median": {k: round(v, 3) for k, v in cpu.items()},
                   "write_seconds_median": {k: round(v, 3) for k, v in writes.items()},
                   "writes_only_seg_s": round(segments / sum(writes.values())),
                   "driver_seg_s_cpu": round(driver_rate_cpu),
                   "same_as_ray_copy": replayed},
        "projection": {
            "parlamint_words": PARLAMINT_WORDS, "words_per_segment": args.words_per_segment,
            "segments": round(total_segments), "nodes": args.nodes, "cores_per_node": args.node_cores,
            # both sharing cores, as measured here; and each on cores of its own
            "as_measured": projection(per_worker, driver_rate),
            "cores_of_their_own": projection(per_worker_alone, driver_rate_cpu),
            "hours_on_this_machine": round(total_segments / local_rate / 3600),
        },
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    p, d, w = summary["projection"], summary["driver"], summary["workers"]
    print(f"{segments} segments, the active quick models ({versions.get('frames')}, {versions.get('spans')}), "
          f"{threads()} cores here, {actors} Ray actors")
    print(f"local path        {local_s:7.1f} s  {local_rate:7.1f} seg/s")
    print(f"Ray, started here {ray_start_s:7.1f} s to start, then {ray_run_s:.1f} s: {ray_rate:.1f} seg/s "
          f"({summary['ray_seg_s_with_start']} with the start)")
    print(f"overhead on one node: Ray takes {summary['overhead_ratio']}x the local time "
          f"({summary['overhead_ratio_with_start']}x with the start)")
    print(f"Ray's copy the same as the local one: {comparison['identical']} ({comparison['rows']} suggestions, "
          f"{comparison['runs']} runs, {comparison['vectors']} vectors; largest score difference "
          f"{comparison['max_score_difference']})")
    print(f"the workers' own time: {w['seconds']} s: {w['per_worker_seg_s']} seg/s per worker (both models); "
          f"one actor alone: {w['alone_seconds']} s: {w['per_worker_seg_s_alone']} seg/s")
    print(f"the driver alone (recorded results, no workers; {d['stored_vectors_before']:,} vectors stored before; "
          f"median of {d['repeats']}): {d['seconds_median']} s: "
          f"{d['seg_s_median']} seg/s per version, {d['driver_seg_s']} seg/s for both (best "
          f"{d['driver_seg_s_best']}; its CPU time {d['cpu_seconds_median']} s: {d['driver_seg_s_cpu']} seg/s on a "
          f"core of its own; its copies the same as Ray's: {d['same_as_ray_copy']})")
    print(f"  of which the write transactions (one per chunk and version): {d['write_seconds_median']} s, "
          f"{d['writes_only_seg_s']} seg/s for both")
    print(f"ParlaMint: {p['parlamint_words']:.2g} words / {p['words_per_segment']:g} words per segment = "
          f"{p['segments'] / 1e6:.1f} M segments")
    for name, what in (("as_measured", "as measured here (cores shared)"),
                       ("cores_of_their_own", "each on cores of its own (one actor alone; the driver's CPU time)")):
        q = p[name]
        print(f"  {what}: workers {q['per_worker_seg_s']} seg/s x {p['nodes']} nodes x {p['cores_per_node']} "
              f"cores = {q['workers_seg_s']} seg/s, the driver {q['driver_seg_s']} seg/s: {q['cluster_seg_s']} "
              f"seg/s, bound by {q['bound_by']}: {q['hours']} h")
    print(f"  (this machine alone, the local path: {p['hours_on_this_machine']} h)")


if __name__ == "__main__":
    main()

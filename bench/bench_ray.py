"""``annotator suggest --ray`` against the local path, on this machine, in one run; and what a
cluster would make of ParlaMint.

Two fresh copies of a project (the demo: ``annotator demo --no-ui``) lose the active frames and
spans versions' suggestions and every stored sentence embedding, so that both paths run the
encoder over every segment. One copy is filled by the local path (``suggest_all``), the other
through Ray (``suggest_all_on_ray``: a local Ray instance, or ``--address`` to join a cluster);
the Ray figures are given with and without starting Ray. The two copies' suggestions are then
compared (they should be the very same).

What the driver itself does on the Ray path (score the frames from the stored vectors and
write everything into SQLite) is timed apart, on the Ray copy with its vectors stored: that,
not the workers, bounds a large cluster, and the projection says so with the arithmetic.

Run from the repository root: ``.venv/bin/python bench/bench_ray.py --db annotator.db [--json]``
(the copies go to a temporary folder; the project is not touched).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

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


def same_suggestions(a: Path, b: Path) -> dict:
    def rows(db: Path) -> list:
        conn = sqlite3.connect(db)
        try:
            return conn.execute('SELECT segment_id, model_version, kind, label, start, "end", score FROM suggestions '
                                "ORDER BY 1, 2, 3, 4, 5, 6").fetchall()
        finally:
            conn.close()

    x, y = rows(a), rows(b)
    same = [r[:6] for r in x] == [r[:6] for r in y]
    return {"rows": len(x), "identical_labels_and_spans": same,
            "max_score_difference": max((abs(p[6] - q[6]) for p, q in zip(x, y)), default=0.0) if same else None}


def driver_share(db: Path) -> dict:
    """The driver's own work on the Ray path, per segment: the frames scored from stored vectors
    (no encoder) and written, and the spans written (the Ray copy's own, again)."""
    from annotator.services.suggest import ActiveModels, embedding_keys, run_locally, write_spans
    from annotator.ml.spans import Span
    from annotator.store import Store

    forget_loaded()
    store = Store.open(db)
    models = ActiveModels(store)
    frames, spans = models.versions["frames"], models.versions["spans"]
    rows = store.db.execute('SELECT segment_id, label, score, start, "end" FROM suggestions WHERE model_version = ? '
                            "ORDER BY segment_id, start", [spans]).fetchall()
    by_segment: dict[int, list] = {}
    for seg, label, score, start, end in rows:
        by_segment.setdefault(seg, []).append(Span(start, end, label, score, ""))
    ids = [s.id for s in store.iter_segments()]
    with store.write():
        store.db.execute("DELETE FROM suggestion_runs WHERE model_version = ?", [frames])
    embedding_keys(models.load("frames"), ["-"])  # loaded (and its encoder's runner) before the clock, as on the Ray path
    started = time.perf_counter()
    n = run_locally(store, models, "frames", frames, True, None, None)
    frames_s = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(ids), 256):
        chunk = ids[i:i + 256]
        write_spans(store, spans, chunk, [by_segment.get(seg, []) for seg in chunk])
    spans_s = time.perf_counter() - started
    store.close()
    return {"segments": n, "frames_from_vectors_s": round(frames_s, 3), "spans_write_s": round(spans_s, 3),
            "driver_seg_s": round(n / (frames_s + spans_s), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("annotator.db"))
    ap.add_argument("--address", default=None, help="join this Ray cluster instead of starting Ray here")
    ap.add_argument("--actors", type=int, default=None, help="actors in the pool (default: one per CPU)")
    ap.add_argument("--nodes", type=int, default=16, help="for the projection: nodes in the cluster")
    ap.add_argument("--node-cores", type=int, default=16, help="for the projection: cores per node")
    ap.add_argument("--words-per-segment", type=float, default=WORDS_PER_SEGMENT)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from annotator.ml.engine import threads
    from annotator.ray_pool import RayOptions, connected, pool_size
    from annotator.services.cluster import suggest_all_on_ray
    from annotator.services.suggest import suggest_all
    from annotator.store import Store

    if not args.db.exists():
        sys.exit(f"{args.db}: no project; run `annotator demo --no-ui` first and pass its --db")
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as scratch:
        local_db = fresh_copy(args.db, Path(scratch), "local.db")
        ray_db = fresh_copy(args.db, Path(scratch), "ray.db")
        segments = Store.open(local_db).segment_count()

        forget_loaded()
        store = Store.open(local_db)
        started = time.perf_counter()
        suggest_all(store, translate=False)
        local_s = time.perf_counter() - started
        store.close()

        forget_loaded()
        options = RayOptions(address=args.address, actors=args.actors)
        started = time.perf_counter()
        with connected(options):
            ray_start_s = time.perf_counter() - started
            actors = pool_size(options)
            store = Store.open(ray_db)
            started = time.perf_counter()
            suggest_all_on_ray(store, options, translate=False)
            ray_run_s = time.perf_counter() - started
            store.close()
        comparison = same_suggestions(local_db, ray_db)
        driver = driver_share(ray_db)

    local_rate = segments / local_s
    ray_rate = segments / ray_run_s
    # the projection: the workers at this machine's per-core rate of the local path, and the driver's ceiling
    per_core = local_rate / threads()
    cluster_workers = per_core * args.nodes * args.node_cores
    total_segments = PARLAMINT_WORDS / args.words_per_segment
    cluster_rate = min(cluster_workers, driver["driver_seg_s"])
    summary = {
        "segments": segments, "cores_here": threads(), "ray_actors": actors,
        "local_s": round(local_s, 2), "local_seg_s": round(local_rate, 1),
        "ray_start_s": round(ray_start_s, 2), "ray_run_s": round(ray_run_s, 2), "ray_seg_s": round(ray_rate, 1),
        "ray_seg_s_with_start": round(segments / (ray_start_s + ray_run_s), 1),
        "overhead_ratio": round(ray_run_s / local_s, 2),
        "overhead_ratio_with_start": round((ray_start_s + ray_run_s) / local_s, 2),
        "same_suggestions": comparison, "driver": driver,
        "projection": {
            "parlamint_words": PARLAMINT_WORDS, "words_per_segment": args.words_per_segment,
            "segments": round(total_segments), "nodes": args.nodes, "cores_per_node": args.node_cores,
            "per_core_seg_s": round(per_core, 1), "workers_seg_s": round(cluster_workers),
            "driver_seg_s": driver["driver_seg_s"], "cluster_seg_s": round(cluster_rate),
            "hours": round(total_segments / cluster_rate / 3600, 1),
            "hours_on_this_machine": round(total_segments / local_rate / 3600),
        },
    }
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    p = summary["projection"]
    print(f"{segments} segments, both quick models (frames: linear over embeddings; spans: the quick tagger), "
          f"{threads()} cores here, {actors} Ray actors")
    print(f"local path        {local_s:7.1f} s  {local_rate:7.1f} seg/s")
    print(f"Ray, started here {ray_start_s:7.1f} s to start, then {ray_run_s:.1f} s: {ray_rate:.1f} seg/s "
          f"({summary['ray_seg_s_with_start']} with the start)")
    print(f"overhead on one node: Ray takes {summary['overhead_ratio']}x the local time "
          f"({summary['overhead_ratio_with_start']}x with the start)")
    print(f"suggestions identical: {comparison['identical_labels_and_spans']} ({comparison['rows']} rows, "
          f"largest score difference {comparison['max_score_difference']})")
    print(f"the driver's own share: frames from stored vectors {driver['frames_from_vectors_s']} s, spans written "
          f"{driver['spans_write_s']} s for {driver['segments']} segments: at most {driver['driver_seg_s']} seg/s")
    print(f"ParlaMint: {p['parlamint_words']:.2g} words / {p['words_per_segment']:g} words per segment = "
          f"{p['segments'] / 1e6:.1f} M segments")
    print(f"  workers: {p['per_core_seg_s']} seg/s per core x {p['nodes']} nodes x {p['cores_per_node']} cores = "
          f"{p['workers_seg_s']} seg/s; the driver: {p['driver_seg_s']} seg/s")
    print(f"  so {p['cluster_seg_s']} seg/s: {p['hours']} h (this machine alone: {p['hours_on_this_machine']} h)")


if __name__ == "__main__":
    main()

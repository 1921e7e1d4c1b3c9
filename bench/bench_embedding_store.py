"""The embedding store's cost at scale: write and read float16 sentence vectors through the
project's cache (one SQLite table, one BLOB per text and encoder), and what 1.5 M segments take.

Run: ``.venv/bin/python bench/bench_embedding_store.py [--vectors 100000] [--dim 384]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from annotator.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = Store.open(path)
        cache = store.embedding_cache("bench-encoder:000000000000")
        rng = np.random.default_rng(0)
        keys = [f"{i:040x}" for i in range(args.vectors)]
        started = time.perf_counter()
        for i in range(0, args.vectors, 1000):
            cache.put({k: rng.standard_normal(args.dim).astype(np.float32) for k in keys[i:i + 1000]})
        put = time.perf_counter() - started
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        per_vector = os.path.getsize(path) / args.vectors
        sample = keys[:: max(args.vectors // 20_000, 1)]
        started = time.perf_counter()
        cache.get(sample)
        get = time.perf_counter() - started
        store.close()
    print(f"{args.vectors:,} vectors of {args.dim}: write {args.vectors / put:,.0f}/s, read {len(sample) / get:,.0f}/s, "
          f"{per_vector:.0f} bytes each on disk")
    print(f"1.5 M segments: {per_vector * 1.5e6 / 1e9:.2f} GB, written in {1.5e6 / (args.vectors / put):.0f} s "
          "(the encoder, at 30-60 segments/s on 2 cores, is what takes the time)")


if __name__ == "__main__":
    main()

"""Soak test of the store under real processes side by side: many trials, one figure each.

Each trial (``tests/_store_trial.py``): a UI-like process with a main connection making
decisions and a worker thread opening and closing its own; ``annotator status``, the
``sqlite3`` shell and a colleague's script reading alongside; then SIGKILL (every other
trial: a clean close, as ctrl+q does). Every acknowledged decision must survive and
``pragma integrity_check`` must pass.

Run: ``.venv/bin/python bench/soak_store.py [--trials 300] [--jobs 2] [--decisions 40]``.
Prints: tried / acknowledged / lost / integrity failures / connection errors.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _store_trial import TrialResult, run_trial  # noqa: E402


def one(index: int, decisions: int) -> TrialResult:
    folder = Path(tempfile.mkdtemp(prefix=f"soak-{index}-"))
    try:
        return run_trial(folder, decisions=decisions, quit=index % 2 == 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2, help="trials run at once")
    parser.add_argument("--decisions", type=int, default=40, help="decisions per trial before the kill")
    args = parser.parse_args()
    print(f"sqlite3 shell: {shutil.which('sqlite3') or 'not installed (readers: CLI and a script)'}")
    started = time.perf_counter()
    results: list[TrialResult] = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for i, result in enumerate(pool.map(lambda i: one(i, args.decisions), range(args.trials)), start=1):
            results.append(result)
            if not result.ok:
                print(f"trial {i}: {result}", flush=True)
            if i % 50 == 0:
                print(f"… {i} trials", flush=True)
    acked = sum(r.acknowledged for r in results)
    lost = sum(r.lost for r in results)
    broken = sum(r.integrity != "ok" for r in results)
    errors = sum(bool(r.errors) for r in results)
    print(f"tried {len(results)} trials · acknowledged {acked} decisions · lost {lost} · "
          f"integrity failures {broken} · trials with connection errors {errors} · "
          f"{time.perf_counter() - started:.0f} s")
    sys.exit(1 if lost or broken or errors else 0)


if __name__ == "__main__":
    main()

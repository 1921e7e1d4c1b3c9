"""Import throughput at UN-General-Debate scale (run by hand: `python bench/bench_import.py`).

Builds a synthetic corpus of N speeches (default 10,000 × ~20 KB ≈ 200 MB, the size of the
UN General Debate corpus) from the demo's English and Chinese texts, each speech made unique,
as JSONL files; then imports it into a fresh database and prints the figures. As a baseline in
the same process it times a plain read-and-split of the same files (`str.split` on ". "), so
the ratio says what segmentation, language identification and storage cost on this machine.

    python bench/bench_import.py [--speeches 10000] [--workers 2] [--segment-langid]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotator.corpora.importer import import_paths  # noqa: E402
from annotator.corpora.readers import read_plain  # noqa: E402
from annotator.store import Store  # noqa: E402


def build_corpus(folder: Path, speeches: int, per_file: int = 500) -> int:
    sources = [read_plain(p)[0].text for p in sorted((ROOT / "corpora/demo/ungdc").glob("*.txt"))]
    chinese = [json.loads(line)["text"] for line in (ROOT / "corpora/demo/chinese/reports-excerpts.jsonl").open()]
    rng = random.Random(0)
    total = 0
    for f in range(0, speeches, per_file):
        with (folder / f"part-{f // per_file:03d}.jsonl").open("w", encoding="utf-8") as out:
            for i in range(f, min(f + per_file, speeches)):
                if i % 10 == 9:
                    text = "\n\n".join(rng.sample(chinese, 4))
                else:
                    paras = [p for src in rng.sample(sources, 4) for p in src.split("\n\n")]
                    text = "\n\n".join(rng.sample(paras, min(len(paras), 28)))
                text = f"Speech {i}.\n\n" + text
                total += len(text.encode("utf-8"))
                out.write(json.dumps({"id": f"s{i}", "title": f"Speech {i}", "text": text}, ensure_ascii=False) + "\n")
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speeches", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--segment-langid", action="store_true", help="also detect each segment's language")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        size = build_corpus(folder, args.speeches)
        t0 = time.perf_counter()
        n = 0
        for p in sorted(folder.glob("*.jsonl")):
            for line in p.open(encoding="utf-8"):
                n += len(json.loads(line)["text"].split(". "))
        baseline = time.perf_counter() - t0
        store = Store.open(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        report = import_paths(store, [folder], segment_langid=args.segment_langid, workers=args.workers)
        elapsed = time.perf_counter() - t0
        print(f"corpus: {args.speeches} speeches, {size / 1e6:.0f} MB")
        print(f"import: {elapsed:.1f} s ({size / 1e6 / elapsed:.1f} MB/s), {report.segments_added} segments, "
              f"workers={args.workers}, segment langid={'on' if args.segment_langid else 'off'}")
        print(f"baseline read + naive split: {baseline:.1f} s; import/baseline = {elapsed / baseline:.1f}x")


if __name__ == "__main__":
    main()

"""How long the quick frames models take to retrain, at growing numbers of labelled segments,
once the project keeps the sentence embeddings (``annotator suggest`` fills them).

Texts, speeches and embeddings are a real project's (run ``annotator demo --no-ui`` first);
the labels are the stored frame suggestions (as if an annotator had accepted
them), so that there are enough of them. Each size is 80 % train, 20 % dev (by speech order).
Printed beside the TF-IDF + logistic regression baseline fitted in the same process.

Run: ``.venv/bin/python bench/bench_frames_training.py [--db annotator.db] [--sizes 250,500,1000,1500]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from annotator.ml.baselines import TfidfFrames
from annotator.ml.embeddings import encoder_key
from annotator.ml.encoder_setup import resolve_base
from annotator.ml.examples import Example
from annotator.ml.train import fit_quick_frames
from annotator.schemes import get_scheme
from annotator.services.context import segment_contexts
from annotator.store import Store


def labelled_segments(store: Store) -> list[Example]:
    versions = [m["version"] for m in store.registered_models() if m["kind"] == "frames"]
    speeches = [sp.id for sp in store.speeches()]
    contexts = segment_contexts(store, speeches)
    out = []
    for speech_id in speeches:
        for seg in store.segments_of_speech(speech_id):
            frames = sorted({s.label for s in store.suggestions(seg.id, versions) if s.kind == "frame"})
            if frames:
                out.append(Example(str(seg.id), seg.text, seg.language, frames, [], str(speech_id),
                                   context=contexts.get(seg.id)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("annotator.db"))
    parser.add_argument("--sizes", default="250,500,1000,1500")
    args = parser.parse_args()
    store = Store.open(args.db)
    labels = get_scheme().frame_ids
    examples = labelled_segments(store)
    if not examples:
        raise SystemExit("no frame suggestions in the project: run `annotator demo --no-ui` (or `annotator suggest`) first")
    encoder = resolve_base(None)
    cache = store.embedding_cache(encoder_key(encoder))
    print(f"{len(examples)} segments with suggested frames in {args.db}; encoder {encoder.name}")
    print(f"{'labelled':>8} {'linear s':>9} {'knn s':>7} {'tfidf s':>8} {'linear/tfidf':>13}")
    for size in (int(s) for s in args.sizes.split(",")):
        if size > len(examples):
            print(f"{size:>8} (the project has only {len(examples)})")
            continue
        chosen = examples[:size]
        cut = int(size * 0.8)
        train, dev = chosen[:cut], chosen[cut:]
        times = {}
        for name, fit in (("linear", lambda: fit_quick_frames("linear", train, dev, encoder, labels, cache)),
                          ("knn", lambda: fit_quick_frames("knn", train, dev, encoder, labels, cache)),
                          ("tfidf", lambda: TfidfFrames().fit(train, labels, dev))):
            started = time.perf_counter()
            fit()
            times[name] = time.perf_counter() - started
        print(f"{size:>8} {times['linear']:9.2f} {times['knn']:7.2f} {times['tfidf']:8.2f} "
              f"{times['linear'] / times['tfidf']:12.1f}×")


if __name__ == "__main__":
    main()

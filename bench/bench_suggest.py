"""Suggestion throughput per model kind: the int8 engine against a naive per-segment loop, in one run.

For each kind the default models use, three paths over the same demo segments, in one process
(so the ratios hold on a noisy machine), interleaved over ``--rounds`` rounds, best round kept:

* naive: one segment at a time in float32 PyTorch, as a ``transformers.pipeline`` loop runs it
  (``feature-extraction`` pipelines for the sentence embeddings; for the slogan tagger, whose
  head no pipeline runs, the same per-segment float32 forward through the tagger);
* torch: our batched PyTorch path (length-sorted batches, bf16 autocast where the CPU has it);
* engine: our batched path through CTranslate2 int8 (``annotator.ml.engine``).

Kinds: ``embeddings`` (nearest neighbours, similar segments), ``frames`` (the linear frames model:
embeddings and its heads; the project's active version) and
``spans`` (the quick slogan tagger on the cut encoder's token states). Fidelity per kind, engine
against float32: embedding cosine (min, mean), the share of frame decisions unchanged, the share
of spans unchanged. The store's vectors are not used: every path computes them.

Run after ``annotator models setup`` (or ``annotator demo --no-ui``):
``.venv/bin/python bench/bench_suggest.py [--db annotator.db] [--segments 256] [--rounds 2] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEGMENTS_PER_HOUR_TARGET = 1_000_000


def demo_segments(n: int) -> list[str]:
    from annotator.corpora.readers import read_plain
    from annotator.corpora.segment import segment_text

    texts = [p.text for f in sorted((ROOT / "corpora/demo/ungdc").glob("*.txt"))
             for p in segment_text(read_plain(f)[0].text, "en")]
    texts += [p.text for line in (ROOT / "corpora/demo/chinese/reports-excerpts.jsonl").open()
              for p in segment_text(json.loads(line)["text"], "zh")]
    step = max(1, len(texts) // n)
    return texts[::step][:n]


def active_or_fitted(db: Path, encoder: Path):
    """The project's active linear frames and quick spans versions."""
    from annotator.ml.predictors import load_predictor
    from annotator.store import Store

    frames = spans = None
    if db.exists():
        store = Store.open(db)
        paths = {m["version"]: Path(m["path"]) for m in store.registered_models()}
        active = store.active_models()
        for kind in ("frames", "spans"):
            version = active.get(kind, "")
            if version.endswith("-linear") and paths.get(version, Path("-")).is_dir():
                model = load_predictor(kind, paths[version])
                frames, spans = (model, spans) if kind == "frames" else (frames, model)
        store.close()
    if frames is None or spans is None:
        sys.exit("no active linear frames and quick spans versions: run `annotator demo --no-ui` (or "
                 "`annotator train`) first, and pass its --db")
    frames.embedding_cache = None
    return frames, spans


def best(times: list[float]) -> float:
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=Path("annotator.db"))
    ap.add_argument("--segments", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch
    from transformers import pipeline

    from annotator.ml import engine
    from annotator.ml.embeddings import E5_QUERY_PREFIX, embed_texts
    from annotator.ml.encoder_setup import existing_default_encoder
    from annotator.ml.loading import load_model, load_tokenizer

    encoder = existing_default_encoder()
    if encoder is None:
        sys.exit("no default encoder: run `annotator models setup` first")
    texts = demo_segments(args.segments)
    frames, spans = active_or_fitted(args.db, encoder)
    from annotator.ml import token_states as states_memory

    # naive paths: one segment at a time, float32
    from transformers import AutoModel

    extractor = pipeline("feature-extraction", model=load_model(encoder, AutoModel),
                         tokenizer=load_tokenizer(encoder), truncation=True, max_length=frames.max_length)

    def naive_embeddings() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for t in texts:
                v = np.asarray(extractor(E5_QUERY_PREFIX + t)[0]).mean(axis=0)
                out.append(v / np.linalg.norm(v))
        return np.stack(out)

    def naive_frames() -> np.ndarray:
        vectors = naive_embeddings()
        from annotator.ml.linear import predict_heads

        return predict_heads(frames._heads["embedding"], vectors)  # the embedding view (dev gave it the weight on the demo)

    def naive_spans() -> list:
        spans.engine = engine.FLOAT32
        out = [spans.predict([t])[0] for t in texts]
        spans.engine = None
        return out

    def ours(kind: str, name: str):
        states_memory.clear_memory()
        if kind == "embeddings":
            return embed_texts(encoder, texts, engine=name)
        if kind == "frames":
            frames.engine = name
            return frames.predict_matrix(texts)
        spans.engine = name
        return spans.predict_tuples(texts)

    # warm up every path (model loads, conversions) before timing
    for kind in ("embeddings", "frames", "spans"):
        for name in ("torch", "ct2", engine.FLOAT32):
            ours(kind, name)
    naive = {"embeddings": naive_embeddings, "frames": naive_frames, "spans": naive_spans}
    for fn in naive.values():
        texts_saved = list(texts)
        texts[:] = texts_saved[:4]
        fn()
        texts[:] = texts_saved
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind in ("embeddings", "frames", "spans"):
            t0 = time.perf_counter()
            naive[kind]()
            times.setdefault((kind, "naive"), []).append(time.perf_counter() - t0)
            for name in ("torch", "ct2"):
                t0 = time.perf_counter()
                ours(kind, name)
                times.setdefault((kind, name), []).append(time.perf_counter() - t0)
    n = len(texts)
    # fidelity, engine against float32
    reference = embed_texts(encoder, texts, engine=engine.FLOAT32)
    int8 = embed_texts(encoder, texts, engine="ct2")
    cos = engine.cosines(reference, int8)
    frames.engine = engine.FLOAT32
    f_ref = frames.predict_matrix(texts) >= np.array([frames.thresholds[lab] for lab in frames.labels])
    frames.engine = "ct2"
    f_int8 = frames.predict_matrix(texts) >= np.array([frames.thresholds[lab] for lab in frames.labels])
    spans.engine = engine.FLOAT32
    s_ref = spans.predict_tuples(texts)
    spans.engine = "ct2"
    s_int8 = spans.predict_tuples(texts)
    fidelity = {"embeddings": {"cosine_min": float(cos.min()), "cosine_mean": float(cos.mean())},
                "frames": {"cosine_min": float(cos.min()), "frames_unchanged": float((f_ref == f_int8).mean())},
                "spans": {"spans_unchanged": engine.span_agreement(s_ref, s_int8),
                          "spans_float32": sum(map(len, s_ref)), "spans_int8": sum(map(len, s_int8))}}
    rows = {}
    for kind in ("embeddings", "frames", "spans"):
        naive_s = n / best(times[(kind, "naive")])
        torch_s = n / best(times[(kind, "torch")])
        engine_s = n / best(times[(kind, "ct2")])
        rows[kind] = {"naive_seg_s": round(naive_s, 1), "torch_seg_s": round(torch_s, 1),
                      "engine_seg_s": round(engine_s, 1), "ratio": round(engine_s / naive_s, 2),
                      "torch_ratio": round(torch_s / naive_s, 2), **{k: round(v, 5) if isinstance(v, float) else v
                                                                      for k, v in fidelity[kind].items()}}
    # a new corpus costs both encoder passes once: the sentence embedding and the tagger's states
    both = 1 / (1 / rows["frames"]["engine_seg_s"] + 1 / rows["spans"]["engine_seg_s"])
    summary = {"segments": n, "rounds": args.rounds, "torch_threads": torch.get_num_threads(),
               "encoder": encoder.name, "kinds": rows,
               "default_models_seg_s": round(both, 1), "default_models_per_hour": int(both * 3600)}
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"{n} demo segments (en + zh), encoder {encoder.name}, {torch.get_num_threads()} threads, "
          f"best of {args.rounds} rounds")
    print(f"{'kind':<11} {'naive':>8} {'torch':>8} {'engine':>8} {'engine/naive':>13} {'torch/naive':>12}  fidelity")
    for kind, r in rows.items():
        fid = ", ".join(f"{k} {v}" for k, v in fidelity[kind].items())
        print(f"{kind:<11} {r['naive_seg_s']:8.1f} {r['torch_seg_s']:8.1f} {r['engine_seg_s']:8.1f} "
              f"{r['ratio']:12.1f}x {r['torch_ratio']:11.1f}x  {fid}")
    print(f"default models on a new corpus (frames + spans, both encoder passes): {both:.0f} segments/s "
          f"= {both * 3600:,.0f} per hour on these cores (target {SEGMENTS_PER_HOUR_TARGET:,})")


if __name__ == "__main__":
    main()

"""Suggestion throughput per model kind: the engine as suggestion runs it, against a naive
per-segment loop and the bare CTranslate2 encoder, in one run.

For each kind the default models use, these paths over the same demo segments, in one process
(so the ratios hold on a noisy machine), interleaved over ``--rounds`` rounds, best round kept:

* naive: one segment at a time in float32 PyTorch, as a ``transformers.pipeline`` loop runs it
  (``feature-extraction`` pipelines for the sentence embeddings; for the slogan tagger, whose
  head no pipeline runs, the same per-segment float32 forward through the tagger);
* torch: our batched PyTorch path (length-sorted batches, bf16 autocast where the CPU has it);
* engine: the project's active versions as ``annotator suggest`` loads them, each at the
  precision its check chose on this CPU (``annotator.ml.engine_checks``); the embeddings at the
  base encoder's (``annotator.ml.engine``);
* bare: the CTranslate2 encoder alone (tokenised texts in, hidden states out, the same batching),
  at every precision CTranslate2 offers on this CPU.

Kinds: ``embeddings`` (nearest neighbours, similar segments, alignment), ``frames`` (the linear
frames model: embeddings and its heads; the project's active version) and ``spans`` (the quick
slogan tagger on the cut encoder's token states). Per kind it prints the path and precision that
actually ran, the bare encoder's rate at that precision, and the engine's decisions against
float32's (embedding cosine, the share of frame decisions and of spans unchanged). The store's
vectors are not used: every path computes them. Exits with status 1 where a kind did not run in
the engine.

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


def bare_runs(encoder: Path, layers: int | None, texts: list[str], prefix: str, max_length: int):
    """``{precision: run()}``: the CTranslate2 encoder alone over ``texts`` (tokenised once, before
    timing), in the engine's batching, at each precision CTranslate2 offers here."""
    from annotator.ml import engine
    from annotator.ml.loading import load_tokenizer

    folder = engine.convert_encoder(encoder, layers)
    ids = load_tokenizer(encoder)([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    runs = {}
    for precision in engine.precisions():
        runner = engine.Ct2Encoder(folder, precision)
        runs[precision] = (lambda r=runner: engine.encode(r, ids, lambda _i, _h: None))
    return runs


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
    from annotator.ml.engine_checks import span_agreement
    from annotator.thresholds import reaches_matrix
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

    loaded = {"frames": frames.engine, "spans": spans.engine}  # as gated on load: the checked precision

    def ours(kind: str, name: str):
        states_memory.clear_memory()
        name = loaded[kind] if name == "engine" and kind != "embeddings" else (None if name == "engine" else name)
        if kind == "embeddings":
            return embed_texts(encoder, texts, engine=name)
        if kind == "frames":
            frames.engine = name
            return frames.predict_matrix(texts)
        spans.engine = name
        return spans.predict_tuples(texts)

    ran = {"embeddings": engine.runner_name(encoder, None, None),
           "frames": engine.runner_name(encoder, None, loaded["frames"]),
           "spans": engine.runner_name(encoder, spans.layers, loaded["spans"])}
    bare = {"embeddings": bare_runs(encoder, None, texts, E5_QUERY_PREFIX, frames.max_length),
            "spans": bare_runs(encoder, spans.layers, texts, "", spans.max_length)}
    bare["frames"] = bare["embeddings"]
    # warm up every path (model loads, conversions) before timing
    for kind in ("embeddings", "frames", "spans"):
        for name in ("torch", "engine", engine.FLOAT32):
            ours(kind, name)
    for runs in bare.values():
        for run in runs.values():
            run()
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
            for name in ("torch", "engine"):
                t0 = time.perf_counter()
                ours(kind, name)
                times.setdefault((kind, name), []).append(time.perf_counter() - t0)
            if kind != "frames":  # the same encoder as the embeddings: timed once
                for precision, run in bare[kind].items():
                    t0 = time.perf_counter()
                    run()
                    times.setdefault((kind, f"bare-{precision}"), []).append(time.perf_counter() - t0)
    for key in [k for k in times if k[0] == "embeddings" and k[1].startswith("bare-")]:
        times[("frames", key[1])] = times[key]
    n = len(texts)
    # the engine's decisions against float32's
    reference = embed_texts(encoder, texts, engine=engine.FLOAT32)
    cos = engine.cosines(reference, ours("embeddings", "engine"))
    thresholds = [frames.thresholds[lab] for lab in frames.labels]
    f_ref = reaches_matrix(ours("frames", engine.FLOAT32), thresholds)
    f_ours = reaches_matrix(ours("frames", "engine"), thresholds)
    s_ref = ours("spans", engine.FLOAT32)
    s_ours = ours("spans", "engine")
    fidelity = {"embeddings": {"cosine_min": float(cos.min()), "cosine_mean": float(cos.mean())},
                "frames": {"cosine_min": float(cos.min()), "frames_unchanged": float((f_ref == f_ours).mean())},
                "spans": {"spans_unchanged": span_agreement(s_ref, s_ours),
                          "spans_float32": sum(map(len, s_ref)), "spans_engine": sum(map(len, s_ours))}}
    rows = {}
    for kind in ("embeddings", "frames", "spans"):
        naive_s = n / best(times[(kind, "naive")])
        torch_s = n / best(times[(kind, "torch")])
        engine_s = n / best(times[(kind, "engine")])
        bare_s = {p: round(n / best(times[(kind, f"bare-{p}")]), 1) for p in bare[kind]}
        precision = ran[kind][4:] if ran[kind].startswith("ct2-") else None
        rows[kind] = {"ran": ran[kind], "naive_seg_s": round(naive_s, 1), "torch_seg_s": round(torch_s, 1),
                      "engine_seg_s": round(engine_s, 1), "ratio": round(engine_s / naive_s, 2),
                      "torch_ratio": round(torch_s / naive_s, 2), "bare_seg_s": bare_s,
                      "bare_over_engine": round(bare_s[precision] / engine_s, 2) if precision else None,
                      **{k: round(v, 5) if isinstance(v, float) else v for k, v in fidelity[kind].items()}}
    # a new corpus costs both encoder passes once: the sentence embedding and the tagger's states
    both = 1 / (1 / rows["frames"]["engine_seg_s"] + 1 / rows["spans"]["engine_seg_s"])
    summary = {"segments": n, "rounds": args.rounds, "torch_threads": torch.get_num_threads(),
               "cpu": engine.cpu_signature(), "encoder": encoder.name, "kinds": rows,
               "default_models_seg_s": round(both, 1), "default_models_per_hour": int(both * 3600)}
    not_engine = [kind for kind, r in rows.items() if not r["ran"].startswith("ct2-")]
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{n} demo segments (en + zh), encoder {encoder.name}, {torch.get_num_threads()} threads, "
              f"best of {args.rounds} rounds; CPU: {engine.cpu_signature()}")
        print(f"{'kind':<11} {'ran':<14} {'naive':>7} {'torch':>7} {'engine':>7} {'eng/naive':>10} "
              f"{'bare (same precision)':>22} {'bare/eng':>9}  fidelity")
        for kind, r in rows.items():
            fid = ", ".join(f"{k} {v}" for k, v in fidelity[kind].items())
            precision = r["ran"][4:]
            bare_same = f"{r['bare_seg_s'][precision]:.1f}" if precision in r["bare_seg_s"] else "-"
            print(f"{kind:<11} {r['ran']:<14} {r['naive_seg_s']:7.1f} {r['torch_seg_s']:7.1f} {r['engine_seg_s']:7.1f} "
                  f"{r['ratio']:9.1f}x {bare_same:>22} {r['bare_over_engine'] or 0:8.2f}x  {fid}")
        for kind in ("embeddings", "spans"):
            print(f"bare CTranslate2 encoder ({'whole' if kind == 'embeddings' else f'first {spans.layers} layers'}): "
                  + ", ".join(f"{p} {v:.1f}" for p, v in rows[kind]["bare_seg_s"].items()) + " segments/s")
        print(f"default models on a new corpus (frames + spans, both encoder passes): {both:.0f} segments/s "
              f"= {both * 3600:,.0f} per hour on these cores (target {SEGMENTS_PER_HOUR_TARGET:,})")
    if not_engine:
        for line in engine.notes():
            print(line, file=sys.stderr)
        sys.exit(f"not in the engine: {', '.join(not_engine)} ran in {', '.join(rows[k]['ran'] for k in not_engine)}")


if __name__ == "__main__":
    main()

"""Suggestion throughput: our batched predictors against a naive per-segment `pipeline` loop.

Run by hand (`python bench/bench_suggest.py [--segments 256]`) after `annotator models setup`.
Both sides use the same model and the same segments, in one process, so the ratio holds on a
noisy machine. The model is a frames head and a spans head on the default encoder
(multilingual-e5-small): the active versions if there are any, else fresh heads (weights do not
change the speed).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def demo_segments(n: int) -> list[str]:
    from annotator.corpora.readers import read_plain
    from annotator.corpora.segment import segment_text

    texts = [p.text for f in sorted((ROOT / "corpora/demo/ungdc").glob("*.txt"))
             for p in segment_text(read_plain(f)[0].text, "en")]
    texts += [p.text for line in (ROOT / "corpora/demo/chinese/reports-excerpts.jsonl").open()
              for p in segment_text(json.loads(line)["text"], "zh")]
    step = max(1, len(texts) // n)
    return texts[::step][:n]


def heads(encoder: Path, folder: Path) -> tuple[Path, Path]:
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    from annotator.schemes import get_scheme

    labels = get_scheme().frame_ids
    tok = AutoTokenizer.from_pretrained(encoder)
    f = AutoModelForSequenceClassification.from_pretrained(
        encoder, num_labels=len(labels), problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    f.save_pretrained(folder / "frames")
    tok.save_pretrained(folder / "frames")
    tags = ["O", "B-Slogan", "I-Slogan"]
    s = AutoModelForTokenClassification.from_pretrained(
        encoder, num_labels=3, id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)})
    s.save_pretrained(folder / "spans")
    tok.save_pretrained(folder / "spans")
    return folder / "frames", folder / "spans"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=int, default=256)
    args = ap.parse_args()
    import torch
    from transformers import pipeline

    from annotator.ml.encoder_setup import existing_default_encoder
    from annotator.ml.frames import FrameClassifier
    from annotator.ml.spans import SpanTagger

    encoder = existing_default_encoder()
    if encoder is None:
        sys.exit("no default encoder: run `annotator models setup` first")
    texts = demo_segments(args.segments)
    with tempfile.TemporaryDirectory() as tmp:
        frames_dir, spans_dir = heads(encoder, Path(tmp))
        frames, spans = FrameClassifier(frames_dir), SpanTagger(spans_dir)
        frames.predict(texts[:4]); spans.predict(texts[:4])  # warm up both sides alike
        ours_f = timed(lambda: frames.predict(texts))
        ours_s = timed(lambda: spans.predict(texts))
        pf = pipeline("text-classification", model=frames.model, tokenizer=frames.tokenizer, top_k=None,
                      function_to_apply="sigmoid", truncation=True, max_length=256)
        ps = pipeline("token-classification", model=spans.model, tokenizer=spans.tokenizer,
                      aggregation_strategy="simple")
        pf(texts[0]); ps(texts[0])
        naive_f = timed(lambda: [pf(t) for t in texts])
        naive_s = timed(lambda: [ps(t) for t in texts])
        from annotator.ml.embeddings import embed_texts

        embed_texts(encoder, texts[:4])
        ours_e = timed(lambda: embed_texts(encoder, texts))
        pe = pipeline("feature-extraction", model=str(encoder), tokenizer=str(encoder), truncation=True,
                      max_length=128)
        pe(texts[0])
        naive_e = timed(lambda: [pe("query: " + t) for t in texts])
    n = len(texts)
    from annotator.ml.batching import use_bf16

    print(f"{n} demo segments (en + zh), encoder {encoder.name}, torch threads {torch.get_num_threads()}, "
          f"bf16 autocast {'on' if use_bf16() else 'off'} (the naive loop runs float32, as a pipeline does)")
    print(f"frames: batched {n / ours_f:6.1f} seg/s, naive pipeline loop {n / naive_f:6.1f} seg/s, ratio {naive_f / ours_f:.1f}x")
    print(f"knn embeddings (the default frames model): batched {n / ours_e:6.1f} seg/s, "
          f"naive pipeline loop {n / naive_e:6.1f} seg/s, ratio {naive_e / ours_e:.1f}x")
    print(f"spans:  batched {n / ours_s:6.1f} seg/s, naive pipeline loop {n / naive_s:6.1f} seg/s, ratio {naive_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()

"""Translation throughput: CTranslate2 int8 against PyTorch, same model and segments, one process.

Run by hand: ``python bench/bench_translate.py [--size tiny|base] [--segments 64] [--max-new-tokens 48]
[--threads N] [--json]``. The model is a random Marian model built like the tests' fixture
(``tests/_ml_fixtures.py``): ``tiny`` is the fixture itself (1+1 layers, 32 wide), ``base`` has
opus-mt's shape (6+6 layers, 512 wide, 8 heads, FFN 2048) over the fixture's 800-token
vocabulary (real opus-mt vocabularies are ~60,000, so the output layer costs more there). Random
weights rarely stop early, so every translation runs to ``--max-new-tokens`` on both sides:
the figures compare equal work. Both sides decode greedily in batches of 8, as suggestion does,
with the same number of threads (torch's, which the engine takes too).
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
sys.path.insert(0, str(ROOT / "tests"))

SIZES = {
    "tiny": {},
    "base": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                 decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048),
}


def segments(n: int) -> list[str]:
    """Demo segments in several languages (the model is random: only their lengths matter)."""
    from bench_suggest import demo_segments

    return demo_segments(n)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--segments", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=None, help="torch and engine threads (default: torch's)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from _ml_fixtures import make_tiny_translation_model

    from annotator.ml import engine, translate_engine
    from annotator.ml.translate import Translator

    texts = segments(args.segments)
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        folder = make_tiny_translation_model(Path(tmp) / f"marian-{args.size}", "marian", dims=SIZES[args.size])
        pytorch = Translator(folder, engine="torch")
        started = time.perf_counter()
        ct2 = Translator(folder, engine="ct2")  # converts (and checks) once
        first_load = time.perf_counter() - started
        if ct2.engine != "ct2":
            sys.exit(f"the engine is not available: {' '.join(engine.notes())}")
        record = engine.read_engine_json(translate_engine.engine_dir(folder))
        kw = dict(src_lang="en", max_new_tokens=args.max_new_tokens, num_beams=1)
        pytorch.translate(texts[:8], **kw), ct2.translate(texts[:8], **kw)  # warm up both alike
        out: dict[str, list[str]] = {}
        t_torch = timed(lambda: out.__setitem__("torch", pytorch.translate(texts, **kw)))
        t_ct2 = timed(lambda: out.__setitem__("ct2", ct2.translate(texts, **kw)))
    n = len(texts)
    figures = {
        "model": f"random Marian ({args.size})", "segments": n, "max_new_tokens": args.max_new_tokens,
        "threads": torch.get_num_threads(), "batch_size": 8,
        "pytorch_seg_per_s": round(n / t_torch, 1), "ct2_int8_seg_per_s": round(n / t_ct2, 1),
        "ratio": round(t_torch / t_ct2, 2),
        "identical": sum(a == b for a, b in zip(out["torch"], out["ct2"])),
        "conversion_seconds": record.get("conversion_seconds"), "first_load_seconds": round(first_load, 2),
        "check": record.get("check"),
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
        return
    print(f"{n} demo segments, {figures['model']}, {args.max_new_tokens} new tokens each, greedy, batches of 8, "
          f"{figures['threads']} threads")
    print(f"PyTorch {figures['pytorch_seg_per_s']:7.1f} seg/s   CTranslate2 int8 {figures['ct2_int8_seg_per_s']:7.1f} seg/s   "
          f"ratio {figures['ratio']:.1f}x   ({figures['identical']}/{n} translations identical)")
    print(f"conversion {figures['conversion_seconds']} s; first load with conversion and check "
          f"{figures['first_load_seconds']} s")


if __name__ == "__main__":
    main()

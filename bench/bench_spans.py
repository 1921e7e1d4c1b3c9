"""Slogan spans on a project's own labels and split: the quick tagger beside its baselines and
variants, all scored by ``evaluate_spans`` on every decided test segment (those without a slogan
too), with the time each takes to fit.

Rows: the quick tagger as ``annotator train`` fits it; the same without the known formulations
(token states alone); the known formulations alone (glossary + slogans marked in train and dev);
every short quotation; with ``--finetune``, the fine-tuned tagger (minutes on a CPU).

Run after ``annotator demo --no-ui`` and ``annotator import-labels corpora/demo/more-labels.jsonl
--format jsonl --annotator linguist``: ``.venv/bin/python bench/bench_spans.py [--db annotator.db]
[--finetune] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from annotator.ml.baselines import KnownFormulationSpans, QuotationSpans
from annotator.ml.encoder_setup import resolve_base
from annotator.ml.span_linear import LinearSpanTagger
from annotator.ml.token_states import clear_memory
from annotator.ml.scoring import evaluate_spans
from annotator.ml.train import train_spans
from annotator.schemes import get_scheme
from annotator.services.evaluation.sides import gold_examples, split
from annotator.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("annotator.db"))
    parser.add_argument("--finetune", action="store_true", help="also fine-tune the tagger (slow)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    store = Store.open(args.db)
    scheme = get_scheme()
    labels = list(scheme.span_ids)
    train, dev, test = split(store, gold_examples(store, scheme))
    encoder = resolve_base(None)
    glossary = [g.source_text for g in store.glossary()]
    rows: dict[str, dict] = {}

    def run(name: str, fit) -> None:
        started = time.perf_counter()
        model = fit()
        seconds = time.perf_counter() - started
        rows[name] = {**evaluate_spans(model, test), "fit_s": round(seconds, 1)}

    clear_memory()  # the quick tagger's time includes computing the token states
    run("quick tagger (train's default)",
        lambda: LinearSpanTagger().fit(train, encoder, labels, dev, glossary=glossary))
    run("quick tagger without known formulations",
        lambda: LinearSpanTagger(use_known=False).fit(train, encoder, labels, dev))
    run("known formulations only", lambda: KnownFormulationSpans().fit(train, labels, glossary, dev))
    run("short quotations", lambda: QuotationSpans(labels[0]))
    if args.finetune:
        run("fine-tuned tagger (8 epochs)", lambda: train_spans(train, dev, encoder, tuple(labels), epochs=8))
    n_without = sum(1 for ex in test if not ex.spans)
    if args.json:
        print(json.dumps({"train": len(train), "dev": len(dev), "test": len(test), "test_without_slogan": n_without,
                          "rows": {k: {m: v for m, v in r.items() if m not in ("per_label", "per_language")}
                                   for k, r in rows.items()}}, indent=1))
        return
    print(f"train/dev/test {len(train)}/{len(dev)}/{len(test)} segments; {n_without} test segments without a "
          f"slogan; {next(iter(rows.values()))['n_gold']} true spans")
    print(f"{'':<42} {'partial F1':>10} {'P':>6} {'R':>6} {'exact F1':>8} {'spans':>6} {'fit s':>6}")
    for name, r in rows.items():
        print(f"{name:<42} {r['partial_f1']:10.3f} {r['partial_precision']:6.3f} {r['partial_recall']:6.3f} "
              f"{r['exact_f1']:8.3f} {r['n_pred']:6d} {r['fit_s']:6.1f}")


if __name__ == "__main__":
    main()

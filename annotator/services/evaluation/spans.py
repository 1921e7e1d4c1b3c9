"""The slogan-span evaluation behind ``annotator report``, on the project's test speeches, whole
(``sides.kind_sides``: every segment of each test speech, those nobody labelled as segments
without a slogan), as the tagger suggests and as ``annotator train`` scores it.

The active spans version beside two baselines, every one scored by ``ml.scoring.evaluate_spans``
on every segment of the test speeches (those without a slogan too, where any suggestion is a
false positive): the known formulations alone (the glossary and the slogans annotators marked in
the train and dev speeches, wherever they occur) and every short quotation. Precision and recall,
partial-overlap and exact, with the counts (and the spans suggested per speech against the true
ones), overall and per language.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.metrics import PER_LANGUAGE_MIN
from annotator.model_kinds import SPANS
from annotator.schemes import Scheme
from annotator.services.evaluation.sides import gold_examples, kind_sides
from annotator.store import Store

KNOWN, QUOTATIONS = "known formulations", "short quotations"


@dataclass
class SpansEvaluation:
    n_train: int
    n_dev: int
    n_test: int  # segments of the test speeches, every one
    n_speeches: int  # test speeches
    n_without: int  # test segments without a slogan
    languages: dict[str, int]  # test segments per language
    rows: dict[str, dict[str, Any]]  # name -> evaluate_spans scores
    note: str = ""
    seconds: float = 0.0
    per_language_min: int = PER_LANGUAGE_MIN
    span_labels: list[str] = field(default_factory=list)

    @property
    def shown_languages(self) -> list[str]:
        return [lang for lang, n in self.languages.items() if n >= self.per_language_min]

    @property
    def n_gold(self) -> int:
        """The true spans in the test speeches."""
        return next(iter(self.rows.values()))["n_gold"] if self.rows else 0

    def per_speech(self, n: int) -> float | None:
        """``n`` spans as spans per test speech."""
        return n / self.n_speeches if self.n_speeches else None


def evaluate_project_spans(store: Store, scheme: Scheme | None = None) -> SpansEvaluation | None:
    """The active tagger and the span baselines on the whole test speeches; None where the
    project has no gold labels or its scheme no span labels."""
    from annotator.ml.baselines import KnownFormulationSpans, QuotationSpans
    from annotator.ml.scoring import evaluate_spans, speech_of
    from annotator.schemes import get_scheme
    from annotator.services.evaluation.versions import score_version

    started = time.perf_counter()
    scheme = scheme or get_scheme()
    labels = list(scheme.span_ids)
    if not labels:
        return None
    examples = gold_examples(store, scheme)
    if not examples:
        return None
    try:
        train, dev, test = kind_sides(store, SPANS, examples)
    except Exception:  # too few labelled speeches to hold out a test split
        return None
    rows: dict[str, dict[str, Any]] = {}
    note = ""
    active = store.active_models().get(SPANS) or ""
    entry = store.registered_model(active)
    if active and entry is not None:
        try:
            rows[f"active: {active} ({entry['meta'].get('method', '')})"] = score_version(
                store, SPANS, Path(entry["path"]), test)
        except Exception as exc:  # an active version that cannot load: the baselines still show
            note = f"active version {active} not scored: {exc}"
    glossary = [g.source_text for g in store.glossary()]
    rows[KNOWN] = evaluate_spans(KnownFormulationSpans().fit(train, labels, glossary, dev), test)
    rows[QUOTATIONS] = evaluate_spans(QuotationSpans(labels[0]), test)
    return SpansEvaluation(
        n_train=len(train), n_dev=len(dev), n_test=len(test), n_speeches=len({speech_of(ex) for ex in test}),
        n_without=sum(1 for ex in test if not [s for s in ex.spans if s[2] in labels]),
        languages=dict(Counter(ex.language for ex in test).most_common()), rows=rows, note=note,
        seconds=time.perf_counter() - started, span_labels=labels)

"""Inter-annotator agreement: Krippendorff's alpha, Cohen's kappa and span F1.

* Frames: Krippendorff's alpha (nominal) per frame label, each label a yes/no value per segment
  and annotator; "overall" treats every (segment, label) pair as one unit over the labels anyone
  used (labels nobody used would only add agreeing zeros and inflate the figure). Segments with a
  single annotator carry no agreement information and are left out.
* Cohen's kappa for each pair of annotators over the segments both labelled, per label, and the
  mean over the labels where kappa is defined (a label neither of them ever used has none).
* Spans: F1 between two annotators, exact (same start, end, label) and partial (character
  overlap, as in SemEval-2020 Task 11); F1 is symmetric, so neither side is "gold".

Adjudicator decisions and skipped ones are left out; a rejected segment means "no labels".
All figures are given overall and per segment language.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from annotator.store import Store
from annotator.store import team_queries as q
from annotator.store.gold import is_adjudicator, labels_of

# segment id -> annotator -> (frames, spans)
Decisions = dict[int, dict[str, tuple[set[str], set[tuple[int, int, str]]]]]


def collect(store: Store) -> tuple[Decisions, dict[int, str]]:
    """Every non-adjudicator, non-skipped decision, and each segment's language."""
    decisions: Decisions = {}
    for ann in store.iter_annotations():
        if is_adjudicator(ann.annotator) or ann.state.status == "skipped":
            continue
        decisions.setdefault(ann.segment_id, {})[ann.annotator] = labels_of(ann.state)
    return decisions, q.segment_languages(store)


def _float(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def krippendorff_alpha(matrix: np.ndarray) -> float | None:
    """Nominal alpha of a coders x units matrix (NaN = not coded); None when undefined."""
    import krippendorff

    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    matrix = matrix[:, pairable]
    values = matrix[~np.isnan(matrix)]
    if matrix.shape[1] == 0 or len(set(values.tolist())) < 2:
        return None  # no pairable units, or a single value: expected disagreement is 0
    return _float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def frame_alpha(decisions: Decisions, labels: Sequence[str]) -> dict[str, Any]:
    coders = sorted({a for per in decisions.values() for a in per})
    segments = sorted(s for s, per in decisions.items() if len(per) >= 2)
    per_label: dict[str, float | None] = {}
    blocks = []
    for label in labels:
        m = np.full((len(coders), len(segments)), np.nan)
        for j, seg in enumerate(segments):
            for i, coder in enumerate(coders):
                if coder in decisions[seg]:
                    m[i, j] = 1.0 if label in decisions[seg][coder][0] else 0.0
        per_label[label] = krippendorff_alpha(m)
        blocks.append(m)
    overall = krippendorff_alpha(np.concatenate(blocks, axis=1)) if blocks else None
    return {"overall": overall, "per_label": per_label, "units": len(segments), "coders": coders}


def pair_kappa(decisions: Decisions, a: str, b: str, labels: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import cohen_kappa_score

    both = sorted(s for s, per in decisions.items() if a in per and b in per)
    per_label: dict[str, float | None] = {}
    for label in labels:
        ya = [int(label in decisions[s][a][0]) for s in both]
        yb = [int(label in decisions[s][b][0]) for s in both]
        if not both or len(set(ya) | set(yb)) < 2:
            per_label[label] = None  # neither used the label (or no shared segments): undefined
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_label[label] = _float(cohen_kappa_score(ya, yb))
    defined = [v for v in per_label.values() if v is not None]
    return {"segments": len(both), "mean": sum(defined) / len(defined) if defined else None,
            "labels_defined": len(defined), "per_label": per_label}


def pair_spans(decisions: Decisions, a: str, b: str) -> dict[str, Any]:
    from annotator.metrics import span_scores

    both = sorted(s for s, per in decisions.items() if a in per and b in per)
    scores = span_scores([sorted(decisions[s][a][1]) for s in both], [sorted(decisions[s][b][1]) for s in both])
    return {"segments": len(both), "exact_f1": scores["exact_f1"], "partial_f1": scores["partial_f1"],
            "spans_a": scores["n_gold"], "spans_b": scores["n_pred"]}


def _mean(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def agreement_figures(decisions: Decisions, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """All agreement figures for one set of decisions (pure: no database)."""
    used = sorted({f for per in decisions.values() for frames, _ in per.values() for f in frames})
    labels = [lab for lab in labels if lab in used] if labels else used
    annotators = sorted({a for per in decisions.values() for a in per})
    pairs = {}
    for a, b in itertools.combinations(annotators, 2):
        kappa = pair_kappa(decisions, a, b, labels)
        if kappa["segments"] == 0:
            continue
        pairs[f"{a}|{b}"] = {"kappa": kappa, "spans": pair_spans(decisions, a, b)}
    return {
        "segments": sum(1 for per in decisions.values() if len(per) >= 2),
        "annotators": annotators,
        "labels": labels,
        "alpha": frame_alpha(decisions, labels),
        "pairs": pairs,
        "mean_kappa": _mean([p["kappa"]["mean"] for p in pairs.values()]),
        "mean_exact_span_f1": _mean([p["spans"]["exact_f1"] for p in pairs.values() if p["spans"]["spans_a"] + p["spans"]["spans_b"]]),
        "mean_partial_span_f1": _mean([p["spans"]["partial_f1"] for p in pairs.values() if p["spans"]["spans_a"] + p["spans"]["spans_b"]]),
    }


def agreement(store: Store, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Agreement overall and per language (only segments with two or more annotators count)."""
    decisions, languages = collect(store)
    shared = {s: per for s, per in decisions.items() if len(per) >= 2}
    by_lang: dict[str, Decisions] = {}
    for seg, per in shared.items():
        by_lang.setdefault(languages.get(seg, "") or "?", {})[seg] = per
    return {"overall": agreement_figures(shared, labels),
            "by_language": {lang: agreement_figures(d, labels) for lang, d in sorted(by_lang.items())}}


def _fmt(x: float | None) -> str:
    return "   -" if x is None else f"{x:.3f}"


def format_table(report: Mapping[str, Any]) -> str:
    """A plain-text table of the figures (one block overall, one line per language)."""
    o = report["overall"]
    if not o["segments"]:
        return "no segment has decisions by two or more annotators yet; assign overlap with `annotator assign`"
    lines = [f"{o['segments']} segments labelled by 2+ annotators ({', '.join(o['annotators'])})", "",
             f"frames  Krippendorff's alpha (nominal): overall {_fmt(o['alpha']['overall'])}"]
    for label, value in o["alpha"]["per_label"].items():
        lines.append(f"  {label:<46} {_fmt(value)}")
    lines += ["", f"{'pair':<30} {'segments':>8} {'kappa':>7} {'span F1 exact':>14} {'partial':>8}"]
    for pair, p in o["pairs"].items():
        lines.append(f"{pair:<30} {p['kappa']['segments']:>8} {_fmt(p['kappa']['mean']):>7} "
                     f"{_fmt(p['spans']['exact_f1']):>14} {_fmt(p['spans']['partial_f1']):>8}")
    lines += ["", f"{'language':<10} {'segments':>8} {'alpha':>7} {'kappa':>7} {'span F1 exact':>14} {'partial':>8}"]
    for lang, f in report["by_language"].items():
        lines.append(f"{lang:<10} {f['segments']:>8} {_fmt(f['alpha']['overall']):>7} {_fmt(f['mean_kappa']):>7} "
                     f"{_fmt(f['mean_exact_span_f1']):>14} {_fmt(f['mean_partial_span_f1']):>8}")
    return "\n".join(lines)

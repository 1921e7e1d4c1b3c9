"""Inter-annotator agreement: Krippendorff's alpha, Cohen's kappa and span F1.

* Frames: Krippendorff's alpha (nominal) per frame label, each label a yes/no value per segment
  and annotator, with the number of segments where anyone chose the label. "Overall" is alpha
  over each annotator's *set* of frames per segment, with the MASI distance between sets
  (Passonneau 2006: 1 - Jaccard x 1, 2/3 for a subset, 1/3 for an overlap, 0 for disjoint
  sets; on single labels it is the nominal distance). Pooling every (segment, label) pair into
  one binary variable instead, as this tool once did, counts the labels' different frequencies
  as chance disagreement and can give a positive overall figure where every label's own is
  zero or below. The overall figure comes with a 95 % bootstrap interval over segments, and the
  table warns when there are too few shared segments for the figures to mean much. Segments with
  a single annotator carry no agreement information and are left out.
* Cohen's kappa for each pair of annotators over the segments both labelled, per label, and the
  mean over the labels where kappa is defined (a label neither of them ever used has none).
* Spans: F1 between two annotators, exact (same start, end, label) and partial (character
  overlap, as in SemEval-2020 Task 11); F1 is symmetric, so neither side is "gold".

Adjudicator decisions, skipped ones and pre-annotations (the seed labels, ``import-labels
--prior``: a prior, never a coder) are left out; a rejected segment means "no labels".
All figures are given overall and per segment language. The shared segments are those the
export's majority rule reads (``store.gold``); its *ties* are labels, not segments (a segment
can hold several), and an adjudicated segment has none: the table gives both counts.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from annotator.schemes import Scheme
from annotator.store import Store
from annotator.store import team_queries as q
from annotator.store.gold import is_vote, labels_of

# segment id -> annotator -> (frames, spans)
Decisions = dict[int, dict[str, tuple[set[str], set[tuple[int, int, str]]]]]

MIN_SEGMENTS = 50  # shared segments below which the figures are flagged as unreliable
MIN_LABEL_SEGMENTS = 10  # segments where anyone chose a label, below which its alpha is flagged
BOOTSTRAP = 1000  # resamples of the shared segments for the overall alpha's interval
BOOTSTRAP_MAX_UNITS = 2000  # more shared segments than this: the interval is narrow; not computed


def collect(store: Store) -> tuple[Decisions, dict[int, str]]:
    """Every person's vote (no adjudicator's, no prior's, none skipped), and each segment's language."""
    decisions: Decisions = {}
    priors = store.prior_annotators()
    for ann in store.iter_annotations():
        if not is_vote(ann.annotator, ann.state, priors):
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


def masi_distance(a: frozenset, b: frozenset) -> float:
    """MASI distance between two label sets (Passonneau 2006, as NLTK computes it)."""
    if a == b:
        return 0.0
    inter, union = len(a & b), len(a | b)
    monotonicity = 0.67 if (a <= b or b <= a) else 0.33 if inter else 0.0
    return 1.0 - (inter / union) * monotonicity


def _set_coding(units: Sequence[Mapping[str, frozenset]]) -> tuple[list[dict[str, frozenset]], list[frozenset], np.ndarray]:
    """The units with two codes or more, the distinct sets (the value domain) and their MASI distances."""
    kept = [dict(u) for u in units if len(u) >= 2]
    sets = sorted({v for u in kept for v in u.values()}, key=lambda v: (len(v), sorted(v)))
    distance = np.array([[masi_distance(a, b) for b in sets] for a in sets])
    return kept, sets, distance


def set_alpha(coded: Sequence[Mapping[str, frozenset]]) -> float | None:
    """Krippendorff's alpha over set-valued codes with the MASI distance (the ``krippendorff``
    package, given the distance): ``coded`` holds, per unit, each coder's set; None when
    undefined (no unit with two codes, or a single set in all)."""
    import krippendorff

    units, sets, distance = _set_coding(coded)
    if not units or len(sets) < 2:
        return None
    index = {v: i for i, v in enumerate(sets)}
    coders = sorted({c for u in units for c in u})
    matrix = np.full((len(coders), len(units)), np.nan)
    for j, u in enumerate(units):
        for i, coder in enumerate(coders):
            if coder in u:
                matrix[i, j] = index[u[coder]]

    def metric(v1, v2, i1, i2, n_v, dtype=np.float64):  # i1, i2: positions in the value domain
        return distance[i1, i2].astype(dtype)

    return _float(krippendorff.alpha(reliability_data=matrix, value_domain=np.arange(len(sets)),
                                     level_of_measurement=metric))


def _set_units(decisions: Decisions, segments: Sequence[int], labels: Sequence[str]) -> list[dict[str, frozenset]]:
    wanted = set(labels)
    return [{coder: frozenset(frames & wanted) for coder, (frames, _) in decisions[seg].items()} for seg in segments]


def resampled_alphas(coded: Sequence[Mapping[str, frozenset]], weights: np.ndarray) -> np.ndarray:
    """The set alpha of :func:`set_alpha` for each row of ``weights`` (how often each unit is
    drawn), from each unit's coincidences: alpha = 1 - (n - 1) sum(o d) / sum(n_c n_k d)
    (Krippendorff 2011), so that a thousand resamples cost one matrix product."""
    units, sets, distance = _set_coding(coded)
    weights = np.asarray(weights, dtype=float)[:, [len(u) >= 2 for u in coded]]  # units alpha can pair
    index = {v: i for i, v in enumerate(sets)}
    observed = np.zeros(len(units))  # sum over c, k of o_ck d_ck, per unit
    values = np.zeros((len(units), len(sets)))  # pairable values per unit and set
    for u, unit in enumerate(units):
        codes = [index[v] for v in unit.values()]
        m = len(codes)
        for i, c in enumerate(codes):
            values[u, c] += 1
            for j, k in enumerate(codes):
                if i != j:
                    observed[u] += distance[c, k] / (m - 1)
    weights = np.asarray(weights, dtype=float)
    n_c = weights @ values
    n = n_c.sum(axis=1)
    expected = np.einsum("rc,ck,rk->r", n_c, distance, n_c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - (n - 1) * (weights @ observed) / expected


def bootstrap_interval(coded: Sequence[Mapping[str, frozenset]], rounds: int = BOOTSTRAP,
                       seed: int = 0) -> tuple[float, float] | None:
    """The 2.5th and 97.5th percentiles of the set alpha over ``rounds`` resamples of the units
    (with replacement; resamples where alpha is undefined are left out)."""
    units, sets, _ = _set_coding(coded)
    if len(units) < 2 or len(sets) < 2:
        return None
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(units), np.full(len(units), 1 / len(units)), size=rounds)
    alphas = resampled_alphas(units, weights)
    alphas = alphas[np.isfinite(alphas)]
    if len(alphas) < rounds // 2:
        return None
    low, high = np.percentile(alphas, [2.5, 97.5])
    return float(low), float(high)


def frame_alpha(decisions: Decisions, labels: Sequence[str], interval: bool = True) -> dict[str, Any]:
    coders = sorted({a for per in decisions.values() for a in per})
    segments = sorted(s for s, per in decisions.items() if len(per) >= 2)
    per_label: dict[str, float | None] = {}
    used_in: dict[str, int] = {}
    for label in labels:
        m = np.full((len(coders), len(segments)), np.nan)
        for j, seg in enumerate(segments):
            for i, coder in enumerate(coders):
                if coder in decisions[seg]:
                    m[i, j] = 1.0 if label in decisions[seg][coder][0] else 0.0
        per_label[label] = krippendorff_alpha(m)
        used_in[label] = int((np.nan_to_num(m) > 0).any(axis=0).sum())
    units = _set_units(decisions, segments, labels)
    ci = bootstrap_interval(units) if interval and 0 < len(units) <= BOOTSTRAP_MAX_UNITS else None
    return {"overall": set_alpha(units), "overall_ci95": list(ci) if ci else None,
            "distance": "MASI over each annotator's set of frames", "per_label": per_label,
            "per_label_segments": used_in, "units": len(segments), "coders": coders}


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


def agreement_figures(decisions: Decisions, labels: Sequence[str] | None = None,
                      interval: bool = True) -> dict[str, Any]:
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
        "alpha": frame_alpha(decisions, labels, interval),
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
    from annotator.store.gold import gold_labels

    gold = gold_labels(store)
    adjudicated = sum(1 for ex in gold.examples if ex.source == "adjudicated" and ex.segment_id in shared)
    return {"overall": agreement_figures(shared, labels),
            "by_language": {lang: agreement_figures(d, labels, interval=False) for lang, d in sorted(by_lang.items())},
            # what `annotator export` reports: ties are labels (several per segment), none where adjudicated
            "export": {"ties": len(gold.ties), "segments_with_ties": len({t.segment_id for t in gold.ties}),
                       "adjudicated": adjudicated}}


def _fmt(x: float | None) -> str:
    return "   -" if x is None else f"{x:.3f}"


def format_table(report: Mapping[str, Any], scheme: Scheme | None = None) -> str:
    """A plain-text table of the figures (one block overall, one line per language); each label
    by its display name in ``scheme`` (``Scheme.display_name``)."""
    o = report["overall"]
    if not o["segments"]:
        return "no segment has decisions by two or more annotators yet; assign overlap with `annotator assign`"
    a = o["alpha"]
    exp = report.get("export", {})
    lines = [f"{o['segments']} segments labelled by 2+ annotators ({', '.join(o['annotators'])})"]
    if exp:
        ties = "1 tie is a label" if exp["ties"] == 1 else f"{exp['ties']} ties are labels"
        lines.append(f"  the export's {ties} chosen by exactly half of the annotators, in "
                     f"{exp['segments_with_ties']} of these segments ({exp['adjudicated']} adjudicated, which have none)")
    if o["segments"] < MIN_SEGMENTS:
        lines.append(f"warning: only {o['segments']} shared segments: too few for these figures to mean much (each "
                     f"segment moves them, see the interval); aim for {MIN_SEGMENTS} or more, more for rare labels: "
                     "`annotator assign --overlap` shares more")
    ci = a.get("overall_ci95")
    interval = f" (95 % interval {ci[0]:.3f} to {ci[1]:.3f}, bootstrap over segments)" if ci else ""
    lines += ["", f"frames  Krippendorff's alpha: overall {_fmt(a['overall'])}{interval}",
              "        (overall: each annotator's set of frames per segment, MASI distance; per label: yes/no, "
              "nominal; n: segments where anyone chose the label)"]
    counts = a.get("per_label_segments", {})
    for label, value in a["per_label"].items():
        n = counts.get(label, 0)
        few = "  too few to judge" if n < MIN_LABEL_SEGMENTS else ""
        name = scheme.display_name(label) if scheme is not None else label
        lines.append(f"  {name:<46} {_fmt(value)}  n={n}{few}")
    lines += ["", f"{'pair':<30} {'segments':>8} {'kappa':>7} {'span F1 exact':>14} {'partial':>8}"]
    for pair, p in o["pairs"].items():
        lines.append(f"{pair:<30} {p['kappa']['segments']:>8} {_fmt(p['kappa']['mean']):>7} "
                     f"{_fmt(p['spans']['exact_f1']):>14} {_fmt(p['spans']['partial_f1']):>8}")
    lines += ["", f"{'language':<10} {'segments':>8} {'alpha':>7} {'kappa':>7} {'span F1 exact':>14} {'partial':>8}"]
    for lang, f in report["by_language"].items():
        lines.append(f"{lang:<10} {f['segments']:>8} {_fmt(f['alpha']['overall']):>7} {_fmt(f['mean_kappa']):>7} "
                     f"{_fmt(f['mean_exact_span_f1']):>14} {_fmt(f['mean_partial_span_f1']):>8}")
    return "\n".join(lines)

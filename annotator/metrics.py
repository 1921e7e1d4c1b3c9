"""Scores computed the way published work computes them (see docs/label-schemes.md).

* Frames (multi-label): micro-F1 (SemEval-2023 Task 3 subtask 2 ranks by it), macro-F1 over the
  scheme's labels, and per-label precision/recall/F1, from scikit-learn on indicator matrices.
* Spans: exact-match F1, and the SemEval-2020 Task 11 partial-overlap measure (Da San Martino
  et al., 2020): for predicted spans S and gold spans T of the whole corpus,

      P = 1/|S| * sum_{s in S, t in T} |s ∩ t| / |s|      R = 1/|T| * sum_{s, t} |s ∩ t| / |t|

  where s and t only meet when they lie in the same document and carry the same label. As in the
  official scorer, overlapping spans of one label in one document are merged first, so a
  prediction cannot earn credit twice for the same characters.

Everything here is pure: lists in, dicts of floats out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from annotator.thresholds import DEFAULT_THRESHOLD, reaches_matrix

Span = tuple[int, int, str]

THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95


# ---------------------------------------------------------------- frames


PER_LANGUAGE_MIN = 20  # test segments a language needs before its own figure is shown


def label_matrix(label_sets: Iterable[Iterable[str]], labels: Sequence[str]) -> np.ndarray:
    """Indicator matrix (examples x labels); labels outside the scheme are ignored."""
    index = {lab: i for i, lab in enumerate(labels)}
    rows = list(label_sets)
    matrix = np.zeros((len(rows), len(labels)), dtype=np.int64)
    for r, row in enumerate(rows):
        for lab in row:
            if lab in index:
                matrix[r, index[lab]] = 1
    return matrix


def frame_scores(
    gold: Sequence[Iterable[str]], pred: Sequence[Iterable[str]], labels: Sequence[str]
) -> dict[str, Any]:
    """micro/macro P, R, F1 and per-label P/R/F1/support for multi-label frame predictions."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} examples but pred has {len(pred)}")
    return frame_scores_from_matrix(label_matrix(gold, labels), label_matrix(pred, labels), labels)


def frame_scores_from_matrix(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    result: dict[str, Any] = {"n": int(y_true.shape[0])}
    if y_true.shape[0] == 0:
        result.update(micro_precision=0.0, micro_recall=0.0, micro_f1=0.0, macro_f1=0.0, per_label={})
        return result
    cols = list(range(len(labels)))
    for avg in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=cols, average=avg, zero_division=0
        )
        result[f"{avg}_precision"], result[f"{avg}_recall"], result[f"{avg}_f1"] = float(p), float(r), float(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=cols, average=None, zero_division=0)
    result["per_label"] = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    return result


def apply_thresholds(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """0/1 decisions (items x labels): a score gives its label where it reaches the label's
    threshold (``annotator.thresholds``, the one rule)."""
    return reaches_matrix(probs, thresholds).astype(np.int64)


MIN_DEV_POSITIVES = 3  # fewer positives in dev than this: too little to tune a threshold on
THRESHOLD_RANGE = (0.2, 0.8)


SHRINK_POSITIVES = 10  # dev positives at which a label's own threshold and the shared one weigh alike


def tune_thresholds(probs: np.ndarray, y_true: np.ndarray, grid: Sequence[float] = THRESHOLD_GRID) -> list[float]:
    """Per-label thresholds tuned on a dev split, shrunk toward one shared threshold.

    The shared threshold is the one that maximises micro-F1 over every label together. A label's
    own is the one that maximises its F1; it counts for ``n / (n + SHRINK_POSITIVES)`` of the
    result, where ``n`` is its positives in dev: with 3 positives, a threshold tuned on them alone
    would swing with one example, so it mostly keeps the shared one; with 40, mostly its own. A
    label with fewer than ``MIN_DEV_POSITIVES`` positives takes the shared one. Ties go to the
    value nearest 0.5, and every value stays within ``THRESHOLD_RANGE``: on the small dev splits
    of a young project, one or two examples would otherwise drive a threshold to 0.05, and the
    label would be suggested for nearly every segment.
    """
    lo, hi = THRESHOLD_RANGE
    grid = [t for t in grid if lo - 1e-9 <= t <= hi + 1e-9] or [DEFAULT_THRESHOLD]
    y_true = np.asarray(y_true, dtype=np.int64)
    shared = _best_threshold(probs, y_true, grid)
    thresholds: list[float] = []
    for j in range(y_true.shape[1]):
        n = int(y_true[:, j].sum())
        if n < MIN_DEV_POSITIVES:
            thresholds.append(shared)
            continue
        own = _best_threshold(probs[:, [j]], y_true[:, [j]], grid)
        thresholds.append(round((n * own + SHRINK_POSITIVES * shared) / (n + SHRINK_POSITIVES), 3))
    return thresholds


def _best_threshold(probs: np.ndarray, y_true: np.ndarray, grid: Sequence[float]) -> float:
    """The one threshold for every column that maximises micro-F1 (ties: nearest 0.5)."""
    best = (-1.0, 0.0, DEFAULT_THRESHOLD)
    for t in grid:
        pred = reaches_matrix(probs, t).astype(np.int64)
        tp = int((pred & y_true).sum())
        denom = int(pred.sum() + y_true.sum())
        f1 = 2 * tp / denom if denom else 0.0
        key = (f1, -abs(t - DEFAULT_THRESHOLD), t)
        if key[:2] > best[:2]:
            best = key
    return float(best[2])


# ---------------------------------------------------------------- spans


def merge_overlapping(spans: Iterable[Span]) -> list[Span]:
    """Merge overlapping or touching spans that share a label (the official scorer does this)."""
    merged: list[Span] = []
    for start, end, label in sorted(spans, key=lambda s: (s[2], s[0], s[1])):
        if end <= start:
            continue
        if merged and merged[-1][2] == label and start <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), label)
        else:
            merged.append((start, end, label))
    return sorted(merged)


def _overlap(a: Span, b: Span) -> int:
    if a[2] != b[2]:
        return 0
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _prf(p_num: float, p_den: int, r_num: float, r_den: int) -> tuple[float, float, float]:
    precision = p_num / p_den if p_den else 0.0
    recall = r_num / r_den if r_den else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def span_scores(gold: Sequence[Iterable[Span]], pred: Sequence[Iterable[Span]]) -> dict[str, Any]:
    """Exact-match and partial-overlap (SemEval-2020 Task 11) span P/R/F1 over a corpus.

    ``gold[i]`` and ``pred[i]`` are the spans of document (segment) ``i``; spans never meet
    across documents. Also reports the same figures per label.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} documents but pred has {len(pred)}")
    counts: dict[str | None, dict[str, float]] = {}

    def bucket(label: str | None) -> dict[str, float]:
        return counts.setdefault(label, {"n_pred": 0, "n_gold": 0, "exact": 0, "p_num": 0.0, "r_num": 0.0})

    for gold_doc, pred_doc in zip(gold, pred):
        g, p = merge_overlapping(gold_doc), merge_overlapping(pred_doc)
        exact = set(g) & set(p)
        for label in {s[2] for s in g} | {s[2] for s in p} | {None}:
            c = bucket(label)
            gs = [s for s in g if label is None or s[2] == label]
            ps = [s for s in p if label is None or s[2] == label]
            c["n_gold"] += len(gs)
            c["n_pred"] += len(ps)
            c["exact"] += sum(1 for s in exact if label is None or s[2] == label)
            for s in ps:
                c["p_num"] += sum(_overlap(s, t) for t in gs) / (s[1] - s[0])
            for t in gs:
                c["r_num"] += sum(_overlap(s, t) for s in ps) / (t[1] - t[0])

    def summarise(c: dict[str, float]) -> dict[str, float]:
        ep, er, ef = _prf(c["exact"], int(c["n_pred"]), c["exact"], int(c["n_gold"]))
        pp, pr, pf = _prf(c["p_num"], int(c["n_pred"]), c["r_num"], int(c["n_gold"]))
        return {
            "exact_precision": ep, "exact_recall": er, "exact_f1": ef,
            "partial_precision": pp, "partial_recall": pr, "partial_f1": pf,
            "n_gold": int(c["n_gold"]), "n_pred": int(c["n_pred"]),
        }

    result: dict[str, Any] = summarise(bucket(None))
    result["n_docs"] = len(gold)
    result["per_label"] = {lab: summarise(c) for lab, c in sorted(counts.items(), key=lambda kv: str(kv[0])) if lab is not None}
    return result


def scored_items(metrics: dict[str, Any]) -> int | None:
    """How many test items (segments, speeches) scores were computed on (None: not recorded)."""
    n = metrics.get("n", metrics.get("n_docs"))
    return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None

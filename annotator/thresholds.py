"""The one rule by which a model's score gives a label: the score reaches the label's threshold.

Score and threshold are compared at ``SCORE_DECIMALS`` decimals, the precision at which the
project stores every label's score and the screens show scores and thresholds. So a score shown
as ``0.500`` beside a threshold of ``0.500`` is ticked, wherever the decision is taken:
suggestion (segments and whole speeches), the annotation screen, evaluation and threshold
tuning, and so the export (which writes the decisions taken from the suggestions). Comparing at
a fixed precision also makes the rule the same for float32 scores (what the models give) and
float64 ones (what the store keeps): ``float32(0.35)`` is a hair below ``0.35``, and a strict
float comparison ticked it in one place and not in another.

Every comparison of a score with its threshold goes through :func:`reaches` (one score) or
:func:`reaches_matrix` (a matrix, one threshold per column); every score or threshold a person
reads goes through :func:`score_text`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

DEFAULT_THRESHOLD = 0.5  # a label's threshold where a version names none, and until one is tuned
SCORE_DECIMALS = 3
_SCALE = 10 ** SCORE_DECIMALS


def score_units(value: float) -> int:
    """``value`` in units of the last decimal kept (thousandths), rounded half to even, as
    ``numpy.rint`` rounds: the one rounding :func:`reaches` and :func:`reaches_matrix` share."""
    return round(float(value) * _SCALE)


def reaches(score: float, threshold: float) -> bool:
    """Whether ``score`` gives the label: at or above ``threshold``, both at ``SCORE_DECIMALS``
    decimals (a score that is not a number reaches nothing)."""
    score, threshold = float(score), float(threshold)
    if math.isnan(score) or math.isnan(threshold):
        return False
    if math.isinf(score) or math.isinf(threshold):  # no digits to round: as reaches_matrix compares them
        return score >= threshold
    return score_units(score) >= score_units(threshold)


def reaches_matrix(scores: Any, thresholds: Sequence[float] | Any) -> Any:
    """:func:`reaches` over a matrix (items x labels) with one threshold per label (column):
    a boolean matrix of the same shape."""
    import numpy as np

    units = np.rint(np.asarray(scores, dtype=np.float64) * _SCALE)
    limits = np.rint(np.asarray(thresholds, dtype=np.float64) * _SCALE)
    return units >= limits  # NaN compares False: it reaches nothing, as in ``reaches``


def rounded_score(value: float) -> float:
    """``value`` at the precision the rule compares (what the project stores for every label)."""
    return score_units(value) / _SCALE


def score_text(value: float) -> str:
    """A score or a threshold as a person reads it: the digits the rule compares, no more, no fewer."""
    value = float(value)
    if not math.isfinite(value):
        return "-"
    return f"{score_units(value) / _SCALE:.{SCORE_DECIMALS}f}"

"""Scores on small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.ml.examples import Example, data_hash
from annotator.splits import split_training_examples as split_by_group
from annotator.metrics import (
    frame_scores,
    merge_overlapping,
    span_scores,
    tune_thresholds,
)

LABELS = ["A", "B", "C"]


def test_frame_scores_by_hand() -> None:
    gold = [{"A"}, {"A", "B"}, set(), {"C"}]
    pred = [{"A"}, {"B"}, {"B"}, set()]
    s = frame_scores(gold, pred, LABELS)
    # TP: A in #0, B in #1; FP: B in #2; FN: A in #1, C in #3.
    assert s["micro_precision"] == pytest.approx(2 / 3)
    assert s["micro_recall"] == pytest.approx(2 / 4)
    assert s["micro_f1"] == pytest.approx(4 / 7)
    assert s["per_label"]["A"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert s["per_label"]["B"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert s["per_label"]["C"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1})
    assert s["macro_f1"] == pytest.approx(4 / 9)
    assert s["n"] == 4


def test_frame_scores_ignore_labels_outside_scheme_and_check_lengths() -> None:
    s = frame_scores([{"A", "Z"}], [{"A"}], LABELS)
    assert s["micro_f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        frame_scores([{"A"}], [], LABELS)


def test_span_scores_partial_and_exact_by_hand() -> None:
    gold = [[(0, 10, "S")], [(0, 4, "S"), (10, 20, "S")], []]
    pred = [[(5, 15, "S")], [(0, 4, "S")], [(0, 3, "S")]]
    s = span_scores(gold, pred)
    # precision numerators: 5/10 + 4/4 + 0 = 1.5 over 3 predictions;
    # recall numerators: 5/10 + 4/4 + 0/10 = 1.5 over 3 gold spans. The prediction in
    # document 3 would overlap gold (0, 4) of document 2 if documents were not kept apart.
    assert s["partial_precision"] == pytest.approx(0.5)
    assert s["partial_recall"] == pytest.approx(0.5)
    assert s["partial_f1"] == pytest.approx(0.5)
    assert s["exact_precision"] == pytest.approx(1 / 3)
    assert s["exact_recall"] == pytest.approx(1 / 3)
    assert s["exact_f1"] == pytest.approx(1 / 3)
    assert (s["n_pred"], s["n_gold"], s["n_docs"]) == (3, 3, 3)


def test_span_scores_one_prediction_over_two_gold_spans() -> None:
    s = span_scores([[(0, 4, "S"), (6, 10, "S")]], [[(0, 10, "S")]])
    assert s["partial_precision"] == pytest.approx(0.8)  # (4 + 4) / 10
    assert s["partial_recall"] == pytest.approx(1.0)  # (4/4 + 4/4) / 2
    assert s["exact_f1"] == 0.0


def test_span_scores_labels_must_match_and_per_label() -> None:
    s = span_scores([[(0, 8, "S"), (10, 12, "T")]], [[(0, 8, "X"), (10, 12, "T")]])
    assert s["partial_precision"] == pytest.approx(0.5)
    assert s["per_label"]["T"]["exact_f1"] == pytest.approx(1.0)
    assert s["per_label"]["S"]["partial_recall"] == 0.0
    assert s["per_label"]["X"]["partial_precision"] == 0.0


def test_overlapping_predictions_are_merged_before_scoring() -> None:
    assert merge_overlapping([(3, 8, "S"), (0, 5, "S"), (20, 22, "S"), (1, 2, "T")]) == [
        (0, 8, "S"), (1, 2, "T"), (20, 22, "S"),
    ]
    s = span_scores([[(0, 8, "S")]], [[(0, 5, "S"), (3, 8, "S")]])
    assert s["exact_f1"] == pytest.approx(1.0)
    assert s["partial_f1"] == pytest.approx(1.0)


def test_span_scores_empty_is_zero_not_error() -> None:
    s = span_scores([[]], [[]])
    assert s["partial_f1"] == 0.0 and s["exact_f1"] == 0.0


def test_tune_thresholds() -> None:
    probs = np.array([[0.9, 0.3, 0.9], [0.7, 0.25, 0.1], [0.6, 0.28, 0.2], [0.3, 0.1, 0.3], [0.1, 0.05, 0.3]])
    truth = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    # Shared: 0.25 gives the best micro-F1 over the three labels together. Label 0 alone: any t
    # in (0.3, 0.6] is perfect, the nearest to 0.5 wins; with 3 dev positives it counts 3/13 beside
    # the shared one's 10/13: (3 * 0.5 + 10 * 0.25) / 13. Label 1 needs t in (0.1, 0.25] and
    # thresholds stay within [0.2, 0.8]: 0.25, as the shared one. Label 2 has one positive in
    # dev, too few to tune on, and takes the shared threshold.
    assert tune_thresholds(probs, truth) == [0.308, 0.25, 0.25]


def test_a_label_with_many_dev_positives_keeps_mostly_its_own_threshold() -> None:
    rng = np.random.default_rng(0)
    truth = np.zeros((200, 2), np.int64)
    truth[:60, 0] = 1  # 60 positives: its own threshold counts 60/70
    truth[:3, 1] = 1  # 3 positives: 3/13
    probs = np.where(truth == 1, 0.75, 0.35) + rng.uniform(-0.05, 0.05, truth.shape)
    probs[:, 1] = np.where(truth[:, 1] == 1, 0.3, 0.1)  # label 1 alone would be best at 0.2-0.3
    low, rare = tune_thresholds(probs, truth)
    assert 0.4 < low < 0.75  # its own (0.45-0.7) weighs most
    assert rare > 0.3  # pulled toward the shared one, far from what 3 examples alone would say


def test_thresholds_never_drop_below_the_floor_on_a_tiny_dev_split() -> None:
    probs = np.array([[0.06], [0.07], [0.08], [0.01]])
    truth = np.array([[1], [1], [1], [0]])  # the best F1 would be at 0.05
    # Within [0.2, 0.8] no threshold finds a positive: all tie at F1 0, so the default stays.
    assert tune_thresholds(probs, truth) == [0.5]


def test_data_hash_is_order_independent_and_label_sensitive() -> None:
    a = Example("1", "money", "en", ["Economic"], [(0, 5, "Slogan")], "s1")
    b = Example("2", "war", "en", ["Security_and_defense", "Political"], [], "s1")
    b_reordered = Example("2", "war", "en", ["Political", "Security_and_defense"], [], "s1")
    assert data_hash([a, b]) == data_hash([b_reordered, a])
    assert data_hash([a, b]) != data_hash([a, Example("2", "war", "en", ["Political"], [], "s1")])


def test_split_by_group_keeps_speeches_whole() -> None:
    examples = [Example(f"{g}-{i}", "t", group=f"g{g}") for g in range(10) for i in range(3)]
    parts = split_by_group(examples, (0.6, 0.2, 0.2), seed=1)
    assert sum(len(p) for p in parts) == 30
    groups = [{ex.group for ex in p} for p in parts]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert all(p for p in parts)


# ---------------------------------------------------------------- active learning order

from annotator.ml.active import Candidate, binary_entropy, uncertainty, uncertainty_order  # noqa: E402


def test_uncertainty_by_hand() -> None:
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    c = Candidate("x", "s", {"A": 0.5, "B": 1.0}, [0.9, 0.4])
    assert uncertainty(c) == pytest.approx(0.5 + 0.6)  # mean entropy (1 + 0) / 2, plus 1 - 0.4
    assert uncertainty(Candidate("y", "s", {}, [])) == 0.0


def test_uncertainty_order_most_uncertain_first_without_diversity() -> None:
    items = [
        Candidate("sure", "s1", {"A": 0.99}),
        Candidate("unsure", "s1", {"A": 0.5}),
        Candidate("middle", "s2", {"A": 0.8}),
        Candidate("weak-span", "s2", {"A": 0.99}, [0.1]),
    ]
    assert uncertainty_order(items, diversity=0) == ["unsure", "weak-span", "middle", "sure"]


def test_uncertainty_order_limits_runs_from_one_speech() -> None:
    # speech a holds the five most uncertain segments; b and c are less uncertain.
    items = [Candidate(f"a{i}", "a", {"A": 0.5 - 0.01 * i}) for i in range(5)]
    items += [Candidate("b0", "b", {"A": 0.8}), Candidate("c0", "c", {"A": 0.85})]
    order = uncertainty_order(items, diversity=2)
    assert order == ["a0", "a1", "b0", "a2", "a3", "c0", "a4"]
    assert sorted(order) == sorted(c.id for c in items)


def test_uncertainty_order_pool_keeps_certain_tail_in_place() -> None:
    items = [Candidate(f"a{i}", "a", {"A": 0.5 - 0.01 * i}) for i in range(4)]
    items.append(Candidate("b0", "b", {"A": 0.99}))
    # with a pool of 3 only a0..a2 are candidates for interleaving: b0 stays last.
    assert uncertainty_order(items, diversity=1, pool=3) == ["a0", "a1", "a2", "a3", "b0"]
    assert uncertainty_order(items, diversity=1, pool=None) == ["a0", "b0", "a1", "a2", "a3"]


def test_stable_split_keeps_each_speech_on_its_side_as_labels_grow() -> None:
    # The project keeps each speech's side (the split_sides table); placing more speeches
    # takes the kept sides as given.
    from annotator.splits import SPLIT_NAMES

    first = [Example(f"{g}-{i}", "t", "en", [], [], f"speech{g}") for g in range(40) for i in range(3)]
    more = first + [Example(f"{g}-x", "t", "en", [], [], f"speech{g}") for g in range(40, 80)]
    side = lambda parts: {ex.group: k for k, part in enumerate(parts) for ex in part}  # noqa: E731
    before = side(split_by_group(first))
    after = side(split_by_group(more, fixed={g: SPLIT_NAMES[k] for g, k in before.items()}))
    assert all(after[g] == k for g, k in before.items())  # nobody moved
    assert sorted(set(after.values())) == [0, 1, 2]  # every part got speeches

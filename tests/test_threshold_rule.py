"""One rule ticks a label: its score reaches its threshold, at the precision the screen shows.
Suggestion, the annotation screen, evaluation and the export (which writes the decisions taken
from the suggestions) tick the same labels for scores exactly at a threshold, for a float32
score that is a hair below its float64 threshold, and for one that rounds to it."""

from __future__ import annotations

import numpy as np
from _ui_fixtures import FRAMES_LABELS, FRAMES_THRESHOLDS, FRAMES_VERSION, build_project
from rich.style import Style

from annotator.export.formats import export_gold, read_export
from annotator.ml.examples import Example
from annotator.ml.scoring import evaluate_frames
from annotator.schemes import get_scheme
from annotator.services.session import Session
from annotator.services.suggest import compute_frame_scores, write_frames
from annotator.store.records import SpeechScore
from annotator.ui.widgets import frame_checklist

SCHEME = get_scheme("framing")
# label -> (score, whether the model ticks it); thresholds: _ui_fixtures.FRAMES_THRESHOLDS
SCORES = {
    "Economic": (0.4996, True),  # under 0.5 by a hair: shown as 0.500 beside 0.500, so ticked
    "Security_and_defense": (float(np.float32(0.35)), True),  # float32(0.35) is 0.34999999 as a float64
    "Quality_of_life": (0.6, True),  # exactly at its threshold
    "Political": (0.3494, False),  # 0.349 against 0.350
    "Policy_prescription_and_evaluation": (0.2996, True),  # shown as 0.300 beside 0.300
}
TICKED = {label for label, (_, ticked) in SCORES.items() if ticked}


class FixedScores:
    """A frames predictor that gives every text the same scores (float32, as the models do)."""

    labels = FRAMES_LABELS
    thresholds = FRAMES_THRESHOLDS

    def predict_matrix(self, texts):
        row = [SCORES.get(label, (0.01, False))[0] for label in self.labels]
        return np.array([row] * len(texts), dtype=np.float32)


def test_a_score_at_its_threshold_is_ticked_alike_in_suggestion_screen_evaluation_and_export(tmp_path):
    store = build_project(tmp_path / "p.db", with_suggestions=False)
    segment = store.segment(store.segment_ids()[1])
    model = FixedScores()
    # suggestion: the scores as `annotator suggest` computes and writes them
    write_frames(store, FRAMES_VERSION, model.thresholds, [segment.id],
                 compute_frame_scores(model, [segment.text]))
    assert {s.label for s in store.suggestions(segment.id) if s.kind == "frame"} == TICKED
    # the screen: the checklist ticks them, and what it shows agrees with the tick
    session = Session(store, "ann", SCHEME)
    view = session.view(segment.id)
    assert {row.label.id for row in view.frames if row.suggested} == TICKED
    assert {row.label.id for row in view.frames if row.checked} == TICKED
    lines = {row.label.id: line for row, line in zip(view.frames, [
        line for line in frame_checklist(view, SCHEME, Style()).plain.splitlines() if "[" in line])}
    assert lines["Economic"].rstrip().endswith("0.500 / 0.500 ◇") and "[x]" in lines["Economic"]
    assert lines["Security_and_defense"].rstrip().endswith("0.350 / 0.350 ◇")
    assert lines["Quality_of_life"].rstrip().endswith("0.600 / 0.600 ◇")
    assert lines["Political"].rstrip().endswith("0.349 / 0.350") and "[ ]" in lines["Political"]
    # evaluation: gold = the ticked labels scores perfectly only if evaluation ticks exactly them
    gold = Example(id="1", text=segment.text, language="en", frames=sorted(TICKED))
    assert evaluate_frames(model, [gold])["micro_f1"] == 1.0
    # the export: the decision taken from the suggestions
    session.accept(segment.id)
    report = export_gold(store, "jsonl", out="gold.jsonl", base_dir=tmp_path / "exports", scheme=SCHEME)
    records = [r for r in read_export(report.path, "jsonl") if r.get("id") == segment.id]
    assert set(records[0]["frames"]) == TICKED
    store.close()


def test_a_whole_speech_score_at_its_threshold_is_suggested_and_shown_so(tmp_path):
    from annotator.services.speech_session import SpeechDecisions
    from annotator.services.speech_suggest import untuned_version
    from annotator.ui.speech_view import speech_checklist

    store = build_project(tmp_path / "p.db", with_suggestions=False)
    store.replace_speech_scores(1, untuned_version(FRAMES_VERSION), {
        label: (score, FRAMES_THRESHOLDS[label]) for label, (score, _) in SCORES.items()})
    decisions = SpeechDecisions(store, "ann", SCHEME)
    assert set(decisions.suggested_state(1).frames) == TICKED
    view = decisions.view(1)
    lines = {row.label.id: line for row, line in zip(view.frames, [
        line for line in speech_checklist(view, SCHEME, Style()).plain.splitlines() if "[" in line])}
    assert lines["Economic"].rstrip().endswith("0.500 / 0.500 ◇") and "[x]" in lines["Economic"]
    assert lines["Political"].rstrip().endswith("0.349 / 0.350") and "[ ]" in lines["Political"]
    store.close()


def test_the_tick_always_agrees_with_the_digits_shown():
    """Over scores around every tuned threshold, float32 and float64: the one rule for a score
    and for a matrix agree, and a score is ticked exactly when the score shown is at least the
    threshold shown."""
    from annotator.metrics import THRESHOLD_GRID, apply_thresholds
    from annotator.thresholds import reaches, score_text

    rng = np.random.default_rng(0)
    for t in (*THRESHOLD_GRID, 0.5, 0.35):
        scores = np.concatenate([t + rng.uniform(-0.002, 0.002, 400), t + np.arange(-3, 4) * 0.0005, [t]])
        for dtype in (np.float32, np.float64):
            column = scores.astype(dtype)
            matrix = apply_thresholds(column[:, None], [t])[:, 0]
            for score, ticked in zip(column, matrix):
                assert reaches(score, t) == bool(ticked)
                assert reaches(score, t) == (float(score_text(score)) >= float(score_text(t))), (score, t)


def test_one_score_and_a_matrix_follow_one_rule_at_the_edges():
    """``reaches`` and ``reaches_matrix`` are the same rule, for values without digits too (a
    threshold of infinity in a hand-edited meta.json reaches nothing; NaN nothing either)."""
    import math

    import numpy as np

    from annotator.thresholds import reaches, reaches_matrix

    pairs = [(0.7, math.inf), (math.inf, 0.5), (0.7, -math.inf), (math.nan, 0.5), (0.5, math.nan),
             (0.4996, 0.5), (0.4994, 0.5), (np.float32(0.35), 0.35)]
    for score, threshold in pairs:
        assert reaches(score, threshold) == bool(reaches_matrix([[score]], [threshold])[0, 0]), (score, threshold)

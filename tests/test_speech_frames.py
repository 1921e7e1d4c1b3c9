"""Frames for whole speeches: both ways learn (beat the majority baseline on held-out speeches of
a small fixture project), train saves and chooses them by dev score, suggestion stores the very
scores evaluation reads, and a project without speech labels still gets speech suggestions."""

from __future__ import annotations

import numpy as np
import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from _speech_fixtures import build_speech_project
from click.testing import CliRunner

from annotator.cli import cli
from annotator.ml.predictors import load_predictor
from annotator.ml.scoring import evaluate_speech_frames
from annotator.ml.speech_frames import AggregateSpeechFrames, top_k_mean
from annotator.schemes import get_scheme
from annotator.services.evaluation.sides import split_speech_docs
from annotator.services.speech_docs import gold_speech_docs, speech_docs
from annotator.services.speech_suggest import suggest_speeches, untuned_version
from annotator.services.speech_training import speech_frames_result, train_speech_frames
from annotator.services.training import train_frames_choosing
from annotator.store import Store

SCHEME = get_scheme("framing")


def test_top_k_mean_is_the_mean_of_the_highest_segment_scores():
    scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.7, 0.5], [0.1, 0.0]], np.float32)
    assert top_k_mean(scores, 2) == pytest.approx([0.8, 0.4])
    assert top_k_mean(scores, 10) == pytest.approx(scores.mean(axis=0))  # a short speech: all of them
    assert top_k_mean(np.zeros((0, 2), np.float32), 3).tolist() == [0.0, 0.0]


@pytest.fixture
def project(tmp_path, tiny_encoder_dir):
    """The fixture project on disk with its segment frames model (linear) trained and active."""
    store = Store.open(tmp_path / "speeches.db")
    build_speech_project(store)
    train_frames_choosing(store, SCHEME, methods=("linear",), base=str(tiny_encoder_dir))
    yield store
    store.close()


def test_both_ways_beat_the_majority_baseline_on_held_out_speeches(project, tiny_encoder_dir):
    result = speech_frames_result(project, SCHEME, base=str(tiny_encoder_dir))
    assert result.sizes["test"] >= 5 and result.sizes["train"] >= 20
    scores = {c.method: c.metrics["micro_f1"] for c in result.candidates}
    majority = result.majority["micro_f1"]
    assert scores["linear"] > majority + 0.3, (scores, majority)
    assert scores["aggregate"] > majority + 0.3, (scores, majority)
    # the speeches are on the project's one split: a speech whose segments are labelled keeps its side
    docs = gold_speech_docs(project, SCHEME)
    sides = project.split_sides()
    assert {d.id: sides[d.id] for d in docs} == {d.id: side for side, part in
                                                 zip(("train", "dev", "test"), split_speech_docs(project, docs))
                                                 for d in part}


def test_train_saves_both_chooses_by_dev_and_reuses_them_while_the_labels_stay(project, tiny_encoder_dir):
    first = train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir))
    assert {c.method for c in first.candidates} == {"aggregate", "linear"} and first.activated
    chosen = max(first.candidates, key=lambda c: (c.dev_metrics["micro_f1"], c.dev_metrics["macro_f1"],
                                                  c.metrics["micro_f1"]))
    assert project.active_models()["speech_frames"] == first.chosen.version == chosen.version
    text = "\n".join(first.lines())
    assert "speech frames: baselines test micro-F1: the " in text and "TF-IDF + logistic regression" in text
    assert "now active" in text
    again = train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir))
    assert all(c.reused for c in again.candidates)
    assert [c.version for c in again.candidates] == [c.version for c in first.candidates]
    # each saved version loads back and scores the test speeches as it did when trained
    _, _, test = split_speech_docs(project, gold_speech_docs(project, SCHEME))
    paths = {m["version"]: m["path"] for m in project.registered_models()}
    for c in first.candidates:
        loaded = load_predictor("speech_frames", paths[c.version])
        assert evaluate_speech_frames(loaded, test)["micro_f1"] == pytest.approx(c.metrics["micro_f1"])
    # the report scores the version in use on the current test speeches; the other one was never active
    from annotator.services.evaluation.versions import score_versions

    group = score_versions(project)["speech_frames"]
    assert (group.n_test, group.unit, group.never_active) == (len(test), "speeches", 1)
    assert [(r.version, r.active, r.recorded) for r in group.rows] == [(first.chosen.version, True, False)]
    assert group.rows[0].scores["micro_f1"] == pytest.approx(first.chosen.metrics["micro_f1"])


def test_suggestion_stores_the_scores_evaluation_reads(project, tiny_encoder_dir):
    train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir))
    version, scored = suggest_speeches(project)
    speeches = [s.id for s in project.speeches()]
    assert version == project.active_models()["speech_frames"] and scored == len(speeches)
    assert suggest_speeches(project) == (version, 0)  # resumable: nothing left to do
    predictor = load_predictor("speech_frames", next(m["path"] for m in project.registered_models()
                                                     if m["version"] == version))
    matrix = predictor.predict_matrix(speech_docs(project, speeches[:3]))
    for speech_id, row in zip(speeches[:3], matrix):
        stored = {s.label: (s.score, s.threshold) for s in project.speech_scores(speech_id, version)}
        assert stored == {lab: (pytest.approx(float(score), abs=1e-6), predictor.thresholds[lab])
                          for lab, score in zip(predictor.labels, row)}


def test_without_speech_labels_the_segment_model_is_aggregated_as_it_is(tmp_path, tiny_encoder_dir):
    store = Store.open(tmp_path / "p.db")
    build_speech_project(store, n_speeches=12, annotator="seg")
    for ann in list(store.iter_speech_annotations()):
        store.undo_speech(ann.annotator)
    train_frames_choosing(store, SCHEME, methods=("linear",), base=str(tiny_encoder_dir))
    assert train_speech_frames(store, SCHEME, base=str(tiny_encoder_dir)) is None
    frames = store.active_models()["frames"]
    version, scored = suggest_speeches(store)
    assert version == untuned_version(frames) and scored == 12
    segment_model = load_predictor("frames", next(m["path"] for m in store.registered_models()
                                                  if m["version"] == frames))
    scores = store.speech_scores(1, version)
    assert {s.label: s.threshold for s in scores} == {lab: segment_model.thresholds[lab] for lab in segment_model.labels}
    assert AggregateSpeechFrames(segment_model).k == 3
    store.close()


def test_train_on_the_command_line_reports_the_speech_candidates(tmp_path, tiny_encoder_dir):
    db = tmp_path / "cli.db"
    store = Store.open(db)
    build_speech_project(store)
    store.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--db", str(db), "--kind", "frames", "--method", "linear",
                                 "--base", str(tiny_encoder_dir)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["train", "--db", str(db), "--kind", "speeches", "--base", str(tiny_encoder_dir)])
    assert result.exit_code == 0, result.output
    assert "speech frames: aggregate" in result.output and "speech frames: linear" in result.output
    assert "baselines test micro-F1" in result.output
    result = runner.invoke(cli, ["suggest", "--db", str(db), "--no-translate"])
    assert result.exit_code == 0, result.output
    assert "40 speeches scored" in result.output


def _speech_table(text: str) -> dict[str, list[str]]:
    """The report's frames-for-whole-speeches table: row name -> [micro-F1, macro-F1]."""
    import re

    section = text.split("frames for whole speeches")[1].splitlines()
    return {m[1]: [m[2], m[3]] for line in section
            if (m := re.fullmatch(r"  (\S.*?)\s+(\d\.\d{3}|-)\s+(\d\.\d{3}|-)", line))}


def test_the_report_shows_both_ways_beside_tfidf_and_the_commonest_frames_on_the_test_speeches(project, tmp_path):
    """A linguist sees whether the speech model is worth their time: beside TF-IDF + logistic
    regression over whole speeches and the k commonest frames, on the same test speeches."""
    from annotator.services.report import report_speech_frames, text_report, write_report

    speeches = report_speech_frames(project)
    text = text_report(project, False, spans=None, speeches=speeches)
    n_test = speeches.sizes["test"]
    assert f"frames for whole speeches (the project's test speeches with speech labels: {n_test}," in text
    rows = _speech_table(text)
    majority = f"majority (the {speeches.majority_k} commonest frames)"
    assert list(rows) == ["aggregate", "speech model", "TF-IDF + logistic regression", majority]
    assert rows["TF-IDF + logistic regression"] == [f"{speeches.tfidf['micro_f1']:.3f}",
                                                   f"{speeches.tfidf['macro_f1']:.3f}"]
    assert rows[majority][0] == f"{speeches.majority['micro_f1']:.3f}"
    assert float(rows["speech model"][0]) > float(rows[majority][0])
    chosen = speeches.chosen
    best = max(speeches.tfidf["micro_f1"], speeches.majority["micro_f1"])
    assert (f"(chosen by dev): test micro-F1 {chosen.metrics['micro_f1']:.3f}, the better baseline" in text
            and f"{chosen.metrics['micro_f1'] - best:+.3f} on the same {n_test} test speeches" in text)
    assert any(line.split()[-1] == str(n_test) for line in text.splitlines() if "n test speeches" in line)
    page = write_report(project, tmp_path / "report", False, spans=None, speeches=speeches).read_text(encoding="utf-8")
    assert "<h2>Frames for whole speeches</h2>" in page
    assert f"<td>TF-IDF + logistic regression</td><td>{speeches.tfidf['micro_f1']:.3f}</td>" in page


def _skip_test_speeches(store: Store) -> int:
    """Every test speech's speech label skipped (no gold any more): the test side is empty."""
    from annotator.store import AnnotationState
    from annotator.store.speeches import speech_key

    _, _, test = split_speech_docs(store, gold_speech_docs(store, SCHEME))
    ids = {speech_key(s.content_hash): s.id for s in store.speeches()}
    for doc in test:
        store.decide_speech(ids[doc.id], "ann", AnnotationState((), (), "skipped"))
    assert not split_speech_docs(store, gold_speech_docs(store, SCHEME))[2]
    return len(test)


def test_a_version_scored_on_no_test_speech_never_replaces_one_scored_on_some(project, tiny_encoder_dir):
    from annotator.services.report import text_report, version_points
    from annotator.services.evaluation.versions import score_versions

    first = train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir))
    assert first.activated and first.chosen.metrics["n"] > 0
    n_test = _skip_test_speeches(project)
    second = train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir))
    assert second.sizes["test"] == 0 and second.chosen.version != first.chosen.version
    assert not second.activated
    assert project.active_models()["speech_frames"] == first.chosen.version
    text = "\n".join(second.lines())
    assert (f"kept {first.chosen.version} active: the new version was scored on 0 test speeches, "
            f"{first.chosen.version} on {n_test} when it was trained") in text
    assert "test micro-F1 0.000" not in text  # nothing was scored: no F1 of 0
    # the report: the version in use keeps its recorded score; the one scored on nothing has no point
    group = score_versions(project)["speech_frames"]
    assert [r.version for r in group.rows] == [first.chosen.version]
    points = version_points(group)["micro_f1"]
    assert points["recorded"] == [(1, pytest.approx(first.chosen.metrics["micro_f1"]))]
    # `--force-activate` still makes it active; then it is drawn nowhere, and said to have no score
    forced = train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir), force=True)
    assert forced.activated and project.active_models()["speech_frames"] == forced.chosen.version
    group = score_versions(project)["speech_frames"]
    assert [r.version for r in group.rows] == [first.chosen.version, forced.chosen.version]
    assert version_points(group)["micro_f1"] == {"scored": [], "recorded": [(1, pytest.approx(
        first.chosen.metrics["micro_f1"]))]}
    report = text_report(project, False, spans=None, versions={"speech_frames": group})
    line = next(line for line in report.splitlines() if forced.chosen.version in line)
    assert "no score: it was scored on 0 test speeches when trained" in line and "0.000" not in line


@pytest.mark.slow
def test_a_fine_tuned_speech_model_is_offered_saved_and_suggests_as_it_scored(project, tiny_encoder_dir):
    from annotator.services.speech_training import FINETUNE

    result = train_speech_frames(project, SCHEME, base=str(tiny_encoder_dir), finetune=True, epochs=2,
                                 activate=False)
    finetuned = next(c for c in result.candidates if c.method == FINETUNE)
    assert {c.method for c in result.candidates} == {"aggregate", "linear", FINETUNE}
    entry = project.registered_model(finetuned.version)
    assert entry is not None and entry["meta"]["method"] == FINETUNE
    predictor = load_predictor("speech_frames", entry["path"])  # what suggestion loads
    test = split_speech_docs(project, gold_speech_docs(project, SCHEME))[2]
    assert evaluate_speech_frames(predictor, test)["micro_f1"] == pytest.approx(finetuned.metrics["micro_f1"])

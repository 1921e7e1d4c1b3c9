"""One predictor per model kind: the scores evaluation reports are the scores suggestion
stores, for the same version and texts (once a new version was scored in fp32 at 128 tokens
and the previous one in bf16 at 256), and a version is cut at the token length it was
trained with."""

from __future__ import annotations

import json

import pytest
from _ml_fixtures import FRAME_LABELS, make_tiny_frames_model, make_tiny_spans_model

from annotator.ml.examples import Example
from annotator.ml.frames import FrameClassifier
from annotator.ml.spans import SpanTagger
from annotator.ml.scoring import evaluate_frames, evaluate_spans
from annotator.ml.train import frame_predictor, span_predictor
from annotator.services.models import register_and_activate
from annotator.services.suggest import suggest_segments
from annotator.thresholds import reaches, rounded_score

TEXTS = ["We will cut taxes for families.", "Our soldiers defend the border.", "Hospitals need nurses now.",
         "Make America great again!", "The economy grows and jobs return.", "Peace through strength."]


@pytest.fixture
def versions(tmp_path):
    frames = make_tiny_frames_model(tmp_path / "frames-v1")
    spans = make_tiny_spans_model(tmp_path / "spans-v1")
    for folder in (frames, spans):  # thresholds between the scores, so that some labels pass
        meta = json.loads((folder / "meta.json").read_text())
        if meta["kind"] == "frames":
            scores = FrameClassifier(folder).predict(TEXTS)
            # the median of all scores at the precision the rule compares: the tiny model's scores
            # lie within 0.01 of 0.5, a label's scores for the texts within 0.001 of each other
            every = sorted(s for row in scores for s in row.values())
            meta["thresholds"] = {lab: rounded_score(every[len(every) // 2]) for lab in FRAME_LABELS}
        (folder / "meta.json").write_text(json.dumps(meta))
    return frames, spans


def add_segments(store) -> list[int]:
    text = " ".join(TEXTS)
    segments, pos = [], 0
    for t in TEXTS:
        segments.append({"start": pos, "end": pos + len(t), "text": t})
        pos += len(t) + 1
    speech = store.add_speech({"content_hash": "c" * 64, "text": text, "language": "en"}, segments)
    return [s.id for s in store.segments_of_speech(speech)]


def test_evaluation_scores_what_suggestion_stores(store, versions):
    frames, spans = versions
    ids = add_segments(store)
    register_and_activate(store, frames)
    register_and_activate(store, spans)
    suggest_segments(store, ids)
    active = store.active_models()

    predictor = frame_predictor(frames)
    scores = predictor.predict(TEXTS)
    stored = store.frame_scores(active["frames"])
    for sid, row in zip(ids, scores):
        passed = {lab for lab, s in row.items() if reaches(s, predictor.thresholds[lab])}  # the one rule
        assert set(stored.get(sid, {})) == passed  # the same decisions ...
        for lab in passed:
            assert stored[sid][lab] == pytest.approx(row[lab], abs=1e-6)  # ... from the same scores
    assert any(stored.values()) and not all(len(v) == len(FRAME_LABELS) for v in stored.values())

    # evaluation's figure is the one the stored suggestions give
    truth = [Example(str(i), t, "en", [FRAME_LABELS[i % 3]]) for i, t in enumerate(TEXTS)]
    from annotator.metrics import frame_scores_from_matrix, label_matrix

    labels = predictor.labels
    y_pred = label_matrix(([lab for lab in stored.get(sid, {})] for sid in ids), labels)
    y_true = label_matrix((ex.frames for ex in truth), labels)
    assert evaluate_frames(frames, truth)["micro_f1"] == pytest.approx(
        frame_scores_from_matrix(y_true, y_pred, labels)["micro_f1"])

    tagger = span_predictor(spans)
    found = tagger.predict_tuples(TEXTS)
    for sid, row in zip(ids, found):
        kept = [(s.start, s.end, s.label) for s in store.suggestions(sid, [active["spans"]]) if s.kind == "span"]
        assert sorted(kept) == sorted(row)
    assert any(found)
    gold = [Example(str(i), t, "en", [], list(r)) for i, (t, r) in enumerate(zip(TEXTS, found))]
    assert evaluate_spans(spans, gold)["exact_f1"] == pytest.approx(1.0)


def test_a_new_version_is_scored_as_it_will_suggest(tmp_path):
    """Before saving (the dev figures, the comparison with the previous version) and after,
    a version's scores are the same numbers."""
    from _ml_fixtures import make_tiny_encoder

    from annotator.ml.train import save_version, train_frames

    encoder = make_tiny_encoder(tmp_path / "encoder")
    labels = FRAME_LABELS[:3]
    examples = [Example(f"{i}", t, "en", [labels[i % 3]], group=f"s{i}") for i, t in enumerate(TEXTS * 3)]
    result = train_frames(examples[:12], examples[12:], encoder, labels, epochs=1, lr=5e-3, batch_size=4, seed=0)
    folder = save_version(result, "frames", "framing", "h", "d", {}, base="tiny", root=tmp_path / "models")
    before = frame_predictor(result).predict_matrix(TEXTS)
    after = frame_predictor(folder).predict_matrix(TEXTS)
    assert after == pytest.approx(before, abs=1e-6)
    assert FrameClassifier(folder).max_length == result.max_length
    assert evaluate_frames(result, examples) == evaluate_frames(folder, examples)


def test_a_version_is_cut_at_the_length_it_was_trained_with(versions):
    frames, spans = versions
    for folder in versions:
        meta = json.loads((folder / "meta.json").read_text())
        meta.setdefault("extra", {})["max_length"] = 7
        (folder / "meta.json").write_text(json.dumps(meta))
    assert FrameClassifier(frames).max_length == 7 and SpanTagger(spans).max_length == 7
    long = " ".join(TEXTS)
    clf = FrameClassifier(frames)
    # beyond 7 tokens the text is cut: what follows cannot change the scores
    assert clf.predict([long])[0] == pytest.approx(clf.predict([long + " and much more text here"])[0])

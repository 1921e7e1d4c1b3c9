"""Snapshots of the main screen (pytest-textual-snapshot). Update with --snapshot-update."""

from __future__ import annotations

import pytest

from _ui_fixtures import build_project
from annotator.ui.app import make_app


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "snap.db"
    build_project(path).close()
    return make_app(path, "ann", "framing", suggest=False)


def test_main_screen_80x24(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24))


def test_main_screen_160x48(app, snap_compare):
    assert snap_compare(app, terminal_size=(160, 48))


def test_markup_segment_in_span_mode_100x30(app, snap_compare):
    assert snap_compare(app, press=["j", "s", "right", "right", "shift+right"], terminal_size=(100, 30))


def test_guidelines_and_chinese_160x48(app, snap_compare):
    assert snap_compare(app, press=["j", "j", "j", "question_mark"], terminal_size=(160, 48))


def test_speech_view_120x36(tmp_path, snap_compare):
    """The whole speech (markup and escapes in it shown literally), its frames with scores and
    thresholds, the annotator's checklist."""
    from _ui_fixtures import FRAMES_VERSION
    from annotator.services.speech_suggest import untuned_version
    from annotator.store import AnnotationState, Store

    path = tmp_path / "speech.db"
    build_project(path).close()
    store = Store.open(path)
    store.replace_speech_scores(1, untuned_version(FRAMES_VERSION),
                                {"Economic": (0.81, 0.5), "Quality_of_life": (0.44, 0.5), "Political": (0.2, 0.35)})
    store.decide_speech(1, "ann", AnnotationState(("Economic", "Security_and_defense"), (), "corrected"))
    store.close()
    assert snap_compare(make_app(path, "ann", "framing", suggest=False), press=["v"], terminal_size=(120, 36))


def test_others_labels_thresholds_and_context_110x40(tmp_path, snap_compare):
    """A segment in the middle of a speech, with the one before and the one after dimmed around
    it; the seed labels and a colleague's rejection listed beside the suggestions (◆ in the list,
    beside the frames they chose, and in the status line); each frame's score / threshold, ◇
    where the model ticks it, and why a label has no score."""
    from _ui_fixtures import FRAMES_LABELS, FRAMES_VERSION
    from annotator.store import AnnotationState, SpanLabel, Store, Suggestion

    path = tmp_path / "others.db"
    build_project(path).close()
    store = Store.open(path)
    first, second = store.segment_ids()[:2]
    scores = {"Security_and_defense": 0.31, "Policy_prescription_and_evaluation": 0.44, "Political": 0.12}
    store.replace_suggestions(second, FRAMES_VERSION, [
        Suggestion(second, FRAMES_VERSION, "frame", "Policy_prescription_and_evaluation", 0.44)],
        uncertainty=0.5, info={"scores": [scores.get(label, 0.02) for label in FRAMES_LABELS]})
    store.decide(second, "seed", AnnotationState(("Security_and_defense", "Economic"), (SpanLabel(10, 16, "Slogan"),),
                                                 "corrected"))
    store.decide(second, "bob", AnnotationState((), (), "rejected"))
    store.decide(first, "seed", AnnotationState(("Political",), (), "accepted"))
    store.close()
    app = make_app(path, "ann", "framing", suggest=False)
    assert snap_compare(app, press=["j"], terminal_size=(110, 40))

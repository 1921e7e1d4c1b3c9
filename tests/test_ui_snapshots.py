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

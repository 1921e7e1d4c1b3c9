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

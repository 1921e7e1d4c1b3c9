"""The speech view (``v``), driven with ``Pilot``: the whole speech shown literally, its frames
with scores and thresholds, and every key writes the speech's decision to the database."""

from __future__ import annotations

import pytest

from _ui_fixtures import FRAMES_VERSION, build_project, saved, ui_db  # noqa: F401 (ui_db: the db fixture)
from annotator.services.speech_suggest import untuned_version
from annotator.store import Store
from annotator.ui.app import AnnotateScreen, make_app
from annotator.ui.speech_view import SpeechScreen
from annotator.ui.widgets import SegmentText

SIZE = (120, 36)
SPEECH_SCORES = {"Economic": (0.81, 0.5), "Quality_of_life": (0.44, 0.5), "Political": (0.2, 0.35)}


def with_speech_scores(path):
    """The first speech scored under the active frames version's untuned aggregate."""
    store = Store.open(path)
    store.replace_speech_scores(1, untuned_version(FRAMES_VERSION), SPEECH_SCORES)
    store.close()
    return path


def saved_speech(path, speech_id: int = 1, annotator: str = "ann"):
    store = Store.open(path)
    try:
        return store.speech_annotation(speech_id, annotator)
    finally:
        store.close()


async def test_speech_view_keys_write_the_speechs_frames(db):
    with_speech_scores(db)
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        assert isinstance(app.screen, SpeechScreen) and app.screen.speech_id == 1
        # the whole speech, each paragraph literally (markup in the corpus is text)
        shown = [w.text for w in app.screen.query(SegmentText)]
        assert shown[1].startswith("Text with [bold]x[/] and ␛[31mred")
        await pilot.press("3")  # Morality, beside the suggested Economic
        assert saved_speech(db).state.frames == ("Economic", "Morality")
        assert saved_speech(db).state.status == "corrected"
        await pilot.press("1")  # Economic off
        assert saved_speech(db).state.frames == ("Morality",)
        await pilot.press("x")
        assert saved_speech(db).state.status == "rejected"
        await pilot.press("backspace")  # undo: the speech's own history
        assert saved_speech(db).state.frames == ("Morality",)
        await pilot.press("escape")
        assert isinstance(app.screen, AnnotateScreen)
        assert saved(db, app.session.ids[0]) is None  # no segment decision was made


async def test_accept_takes_the_suggested_frames_of_the_speech(db):
    with_speech_scores(db)
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "a")
        ann = saved_speech(db)
        assert ann.state.frames == ("Economic",) and ann.state.status == "accepted"


async def test_a_moved_frame_key_moves_in_the_speech_view_too(db, tmp_path, monkeypatch):
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\n"frame.Economic" = "z"\n', encoding="utf-8")
    monkeypatch.setenv("ANNOTATOR_KEYMAP", str(keymap))
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "z")
        assert saved_speech(db).state.frames == ("Economic",)
        await pilot.press("1")  # its old key no longer answers
        assert saved_speech(db).state.frames == ("Economic",)


async def test_the_speech_view_scores_a_speech_that_has_no_scores_yet(db, monkeypatch):
    """With suggestions on, opening the view of an unscored speech scores it in a worker."""
    import annotator.services.speech_suggest as speech_suggest

    def fake(store, speech_ids=None, **kwargs):
        for speech_id in speech_ids:
            store.replace_speech_scores(speech_id, untuned_version(FRAMES_VERSION), {"Morality": (0.9, 0.5)})
        return untuned_version(FRAMES_VERSION), len(speech_ids)

    monkeypatch.setattr(speech_suggest, "suggest_speeches", fake)
    from annotator.services.speech_session import SpeechDecisions

    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        decisions = SpeechDecisions(app.session.store, "ann", app.session.scheme)
        await app.push_screen(SpeechScreen.for_scheme(app.session.scheme)(decisions, 2, suggest=True))
        await app.workers.wait_for_complete()
        await pilot.pause()
        checklist = str(app.screen.query_one("#speech-checklist").render())
        assert "0.900 / 0.500 ◇" in checklist and "no scores for this speech yet" not in checklist

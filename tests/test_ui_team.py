"""Team work in the annotation UI: adjudication mode, the assignment queue, "retrain now"."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from _ui_fixtures import FRAMES_VERSION, build_project
from textual.widgets import OptionList, Switch

from annotator.store.gold import gold_labels
from annotator.ml.registry import now_stamp
from annotator.schemes import get_scheme
from annotator.services.session import Session
from annotator.store import AnnotationState, SpanLabel, Store
from annotator.team.assign import disagreements
from annotator.ui.app import AnnotateScreen, make_app

SIZE = (120, 36)


def record_notifications(app) -> list[str]:
    """Every notification the app shows, as text (run_test does not keep toasts)."""
    shown: list[str] = []
    original = app.notify

    def notify(message, *args, **kwargs):
        shown.append(str(message))
        return original(message, *args, **kwargs)

    app.notify = notify
    return shown


def screen_of(app) -> AnnotateScreen:
    assert isinstance(app.screen, AnnotateScreen)
    return app.screen


@pytest.fixture
def team_db(tmp_path):
    """anna and ben disagree on segments 1 and 3, agree on segment 2; ben skipped segment 4."""
    path = tmp_path / "team.db"
    store = build_project(path)
    ids = store.segment_ids()
    store.decide(ids[0], "anna", AnnotationState(("Economic",), (SpanLabel(8, 32, "Slogan"),), "corrected"))
    store.decide(ids[0], "ben", AnnotationState(("Economic", "Political"), (), "corrected"))
    store.decide(ids[1], "anna", AnnotationState(("Morality",), (), "corrected"))
    store.decide(ids[1], "ben", AnnotationState(("Morality",), (), "corrected"))
    store.decide(ids[2], "anna", AnnotationState(("Security_and_defense",), (), "corrected"))
    store.decide(ids[2], "ben", AnnotationState((), (), "rejected"))
    store.decide(ids[3], "anna", AnnotationState(("Political",), (), "corrected"))
    store.decide(ids[3], "ben", AnnotationState((), (), "skipped"))
    store.close()
    return path


def annotation_rows(path, segment_id):
    store = Store.open(path)
    try:
        return {a.annotator: a.state for a in store.annotations_for(segment_id)}
    finally:
        store.close()


# ------------------------------------------------------------------ adjudication (session)
def test_session_adjudication_lists_disagreements_and_adopts(team_db):
    store = Store.open(team_db)
    ids = store.segment_ids()
    session = Session(store, "carla", get_scheme("framing"), adjudicate=True)
    assert session.annotator == "adjudicator:carla"
    assert session.ids == [ids[0], ids[2]] == disagreements(store)
    votes = session.votes(ids[0])
    assert [v.annotator for v in votes] == ["anna", "ben"]
    assert votes[0].span_texts == ("build a stronger economy",)
    assert [v.status for v in session.votes(ids[3])] == ["corrected"]  # a skip is no vote
    session.adopt(ids[2], "ben")  # the rejection wins: no labels
    assert store.annotation(ids[2], "adjudicator:carla").state.status == "rejected"
    assert session.ids == [ids[0], ids[2]]  # a settled segment stays listed, with its new status
    assert session.progress.done == 1 and session.progress.total == 2
    session.set_adjudicate(False)
    assert session.annotator == "carla" and len(session.ids) == 9
    with pytest.raises(ValueError):
        session.adopt(ids[3], "ben")  # skipped
    store.close()


# ---------------------------------------------------------------------- adjudication (UI)
async def test_adjudicator_picks_one_annotator_and_export_uses_it(team_db):
    app = make_app(team_db, "carla", "framing", suggest=False, adjudicate=True)
    async with app.run_test(size=SIZE) as pilot:
        first, second = app.session.ids
        assert screen_of(app).current_id == first
        votes = app.screen.query_one("#votes")
        assert votes.display
        panel = "\n".join(strip.text for strip in votes.render_lines(votes.region.reset_offset))
        assert "anna" in panel and "ben" in panel and "«build a stronger economy»" in panel
        assert "Political" in panel
        assert "adjudicating (2 disagreements)" in str(app.screen.query_one("#who").render())
        await pilot.press("c")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "PickScreen"
        assert app.screen.query_one(OptionList).region.height == 2  # one line per annotator
        await pilot.press("2")  # ben
        await pilot.pause()
        rows = annotation_rows(team_db, first)
        assert set(rows) == {"anna", "ben", "adjudicator:carla"}
        assert rows["adjudicator:carla"].frames == ("Economic", "Political")
        assert rows["adjudicator:carla"].spans == ()
        assert screen_of(app).current_id == second  # on to the next disagreement
    store = Store.open(team_db)
    gold = {ex.segment_id: ex for ex in gold_labels(store).examples}
    assert gold[first].source == "adjudicated" and gold[first].frames == ["Economic", "Political"]
    assert first not in disagreements(store)
    store.close()


async def test_adjudicator_writes_own_decision_and_toggles_mode(team_db):
    app = make_app(team_db, "carla", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        assert len(app.session.ids) == 9 and not app.screen.query_one("#votes").display
        await pilot.press("c")  # not in adjudication mode: nothing happens
        assert isinstance(app.screen, AnnotateScreen)
        await pilot.press("d")
        first, second = app.session.ids
        assert screen_of(app).current_id == first
        await pilot.press("j")
        await pilot.press("8", "s", "right", "enter", "escape")  # own frames and span
        state = annotation_rows(team_db, second)["adjudicator:carla"]
        assert state.frames == ("Security_and_defense",) and state.status == "corrected"
        assert len(state.spans) == 1
        await pilot.press("u")  # undo is the adjudicator's own
        assert annotation_rows(team_db, second)["adjudicator:carla"].spans == ()
        await pilot.press("c", "escape")  # the picker cancels without a decision
        assert isinstance(app.screen, AnnotateScreen)
        await pilot.press("d")
        assert len(app.session.ids) == 9 and app.session.annotator == "carla"
        assert annotation_rows(team_db, second).get("carla") is None


async def test_adjudication_with_nothing_to_settle(tmp_path):
    path = tmp_path / "p.db"
    build_project(path).close()
    app = make_app(path, "carla", "framing", suggest=False, adjudicate=True)
    async with app.run_test(size=SIZE) as pilot:
        assert app.session.ids == []
        assert "No disagreement" in str(app.screen.query_one("#meta").render())
        await pilot.press("c", "a")  # nothing to act on: no crash, nothing written
    assert annotation_rows(path, 1) == {}


# ------------------------------------------------------------------------ assignment queue
async def test_assigned_queue_is_the_default_list_and_filter_switches_to_all(tmp_path):
    path = tmp_path / "q.db"
    store = build_project(path)
    ids = store.segment_ids()
    store.assign([(ids[2], "ann"), (ids[5], "ann"), (ids[1], "bob")])
    store.close()
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.session.ids == [ids[2], ids[5]]
        assert "queue: mine (2)" in str(app.screen.query_one("#who").render())
        await pilot.press("a")
        assert app.session.ids == [ids[2], ids[5]]  # the queue keeps decided segments
        await pilot.press("f")
        switch = app.screen.query_one("#queue", Switch)
        assert switch.value
        switch.value = False
        await pilot.click("#apply")
        await pilot.pause()
        assert len(app.session.ids) == 9
        assert "queue: all" in str(app.screen.query_one("#who").render())
        await pilot.press("f")
        app.screen.query_one("#queue", Switch).value = True
        await pilot.click("#apply")
        await pilot.pause()
        assert app.session.ids == [ids[2], ids[5]]
    other = make_app(path, "cem", "framing", suggest=False)  # nothing assigned: everything
    async with other.run_test(size=SIZE):
        assert len(other.session.ids) == 9
        assert "queue" not in str(other.screen.query_one("#who").render())


# ------------------------------------------------------------------------------ retrain
MONEY = ["The budget deficit and taxes hurt the economy.", "Wages, prices and jobs matter for growth."]
WAR = ["The army must defend the border against attack.", "Our soldiers and missiles protect the nation."]


def labelled_db(path) -> Store:
    """Ten English speeches labelled Economic or Security_and_defense by one annotator; no model yet."""
    store = Store.open(path)
    for i in range(10):
        texts = [t + f" ({i})" for t in (MONEY if i % 2 == 0 else WAR)]
        text = " ".join(texts)
        segs, pos = [], 0
        for t in texts:
            start = text.index(t, pos)
            segs.append({"start": start, "end": start + len(t), "text": t, "language": "en"})
            pos = start + len(t)
        digest = hashlib.sha256(text.encode()).hexdigest()
        sid = store.add_speech({"content_hash": digest, "text": text, "language": "en", "title": f"s{i}"}, segs)
        for seg in store.segments_of_speech(sid):
            frame = "Economic" if i % 2 == 0 else "Security_and_defense"
            store.decide(seg.id, "ann", AnnotationState((frame,), (), "corrected"))
    return store


async def retrain_and_wait(app, pilot) -> None:
    await pilot.press("ctrl+t")
    await app.workers.wait_for_complete()  # training
    await pilot.pause()
    await app.workers.wait_for_complete()  # the suggestions it started
    await pilot.pause()
    assert not screen_of(app).training


async def test_retrain_now_activates_a_new_frames_version_and_resuggests(tmp_path, tiny_encoder_dir):
    path = tmp_path / "t.db"
    labelled_db(path).close()
    app = make_app(path, "ann", "framing", suggest=True, train_base=str(tiny_encoder_dir))
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await retrain_and_wait(app, pilot)
        store = Store.open(path)
        first = store.active_models()["frames"]
        method = "knn" if first.endswith("-knn") else "linear"  # the quick one best on dev
        assert first.endswith(f"-{method}")
        assert any(m.startswith(f"frames: {first} ({method}) test micro_f1") for m in shown), shown
        current = screen_of(app).current_id
        assert store.run_info(current, first), "the segment in view was suggested with the new model"
        await pilot.press("j")
        # a new label since the first retrain (on unchanged labels the version is reused)
        store.decide(screen_of(app).current_id, "ann", AnnotationState(("Political",), (), "corrected"))
        stamp = now_stamp()
        while now_stamp() == stamp:  # version names have one-second resolution
            await asyncio.sleep(0.05)
        await retrain_and_wait(app, pilot)
        second = store.active_models()["frames"]
        assert second != first and (second.endswith("-knn") or second.endswith("-linear"))
        headline = next(m for m in shown if m.startswith(f"frames: {second}"))
        assert f"(previous {first}: " in headline
        assert store.run_info(screen_of(app).current_id, second)
        store.close()


async def test_retrain_without_enough_labels_is_a_notification(tmp_path, tiny_encoder_dir):
    path = tmp_path / "e.db"
    build_project(path).close()
    app = make_app(path, "ann", "framing", suggest=False, train_base=str(tiny_encoder_dir))
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any(m.startswith("retraining failed") and "label more" in m for m in shown), shown
        assert app.is_running and not screen_of(app).training
        await pilot.press("a")  # the app carries on
    store = Store.open(path)
    assert store.active_models()["frames"] == FRAMES_VERSION
    store.close()


async def test_palette_offers_team_and_training_actions(team_db):
    app = make_app(team_db, "carla", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Adjudicate", "Retrain now", "Fine-tune frames and spans models (slow)"} <= titles
        assert "Take decision" not in titles  # only in adjudication mode
        await pilot.press("d")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Take decision" in titles

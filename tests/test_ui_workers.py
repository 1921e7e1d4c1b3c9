"""Suggestion workers in the UI: one at a time, cancelled when the annotator moves on, and a
failed run is asked for again rather than marked as done forever."""

from __future__ import annotations

import threading
import time


import annotator.services.suggest
from _ui_fixtures import FRAMES_VERSION, build_project, speech_record, ui_db  # noqa: F401 (ui_db: the db fixture)
from annotator.errors import ModelNotFoundError
from annotator.store import Store, Suggestion
from annotator.ui.app import make_app

SIZE = (100, 30)


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_a_failed_suggestion_run_is_tried_again(db, monkeypatch):
    failing = [True]
    calls: list[list[int]] = []

    def flaky(store, ids, progress=None):
        calls.append(list(ids))
        if failing[0]:
            raise ModelNotFoundError("the active frames model 'x' is not on disk")
        for sid in ids:
            store.replace_suggestions(sid, FRAMES_VERSION, [Suggestion(sid, "", "frame", "Morality", 0.77)])
        return len(ids)

    monkeypatch.setattr(annotator.services.suggest, "suggest_segments", flaky)
    app = make_app(db, "ann", "framing", suggest=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        second = app.session.ids[1]
        assert calls and second in calls[0]
        assert second not in app.session.attempted  # failed: not done
        assert "suggestions failed" in str(app.screen.query_one("#worker").render())
        failing[0] = False  # the model is back (the linguist ran `annotator models setup`)
        await pilot.press("j")
        await settle(app, pilot)
        assert second in app.session.attempted
        assert "Morality" in app.session.working_state(second).frames
        assert str(app.screen.query_one("#worker").render()) == ""


async def test_fast_navigation_runs_one_worker_at_a_time_and_cancels_the_rest(db, monkeypatch):
    running, most, done = [0], [0], []
    lock = threading.Lock()

    def slow(store, ids, progress=None):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.15)
        for sid in ids:
            store.replace_suggestions(sid, FRAMES_VERSION, [Suggestion(sid, "", "frame", "Morality", 0.6)])
        with lock:
            running[0] -= 1
            done.extend(ids)
        return len(ids)

    monkeypatch.setattr(annotator.services.suggest, "suggest_segments", slow)
    store = Store.open(db)
    store.add_speech(*speech_record("en", "A long one", [f"Sentence {i} of a long speech." for i in range(80)]))
    store.close()
    app = make_app(db, "ann", "framing", suggest=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(12):
            await pilot.press("j")
        await settle(app, pilot)
        ids = app.session.ids
        assert most[0] == 1  # a cancelled run finishes its few segments, then stops: no pile-up
        assert len(done) < 16 + 12 * 4  # cancelled runs did not go on to the end
        current = app.screen.current_id
        window = ids[ids.index(current):ids.index(current) + 16]
        assert all(app.session.view(i).has_suggestions for i in window)  # where the annotator is: done
        assert app.screen.in_flight == {}
        # what cancelled runs did not get to is not marked as done
        assert app.session.attempted <= set(done)

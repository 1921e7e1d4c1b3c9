"""A write lock held by another process: the key press is answered at once, the decision waits
(shown as not saved yet, with who holds the lock), is retried and saved, and the app never
crashes or quits with it unsaved."""

from __future__ import annotations

import time

import pytest

from _lock_holder import holder_kind, write_lock_held
from _ui_fixtures import build_project, saved, ui_db  # noqa: F401 (ui_db: the db fixture)
from annotator.store import Store
from annotator.store.locks import write_lock_holder
from annotator.ui.app import make_app
from annotator.ui.widgets import TopBar

SIZE = (140, 30)


def busy_bar(app) -> str:
    return str(app.screen.query_one("#busy", TopBar).render())


async def test_busy_database_keeps_decisions_pending_then_saves_them_in_order(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        ids = app.session.ids
        with write_lock_held(db):
            started = time.monotonic()
            await pilot.press("a")  # accept the first segment: the database is busy
            assert time.monotonic() - started < 5  # answered, not frozen for the busy timeout
            await pilot.press("1")  # Economic on the second segment, also waiting
            await pilot.press("1")  # ... and off again
            await pilot.press("8")  # Security_and_defense on
            assert saved(db, ids[0]) is None and saved(db, ids[1]) is None
            assert "not saved yet" in busy_bar(app) and holder_kind() in busy_bar(app)
            assert [r.status for r in app.session.rows(0, 2)] == ["pending", "pending"]  # both rows say so
            # the screen shows the decision as it will be saved
            assert app.session.view(ids[1]).frames[7].checked and app.session.view(ids[1]).pending
            await pilot.press("ctrl+q")  # not while decisions wait: it says so and stays
            await pilot.pause(0.2)
            assert app.is_running
        deadline = time.monotonic() + 10
        while app.session.pending and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert saved(db, ids[0]).state.status == "accepted"
        assert saved(db, ids[1]).state.frames == ("Security_and_defense",)
        assert busy_bar(app) == ""
        assert app.session.rows(0, 2)[0].status == "accepted"


async def test_undo_drops_a_pending_decision_and_a_second_ctrl_q_quits_without_it(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        ids = app.session.ids
        with write_lock_held(db):
            await pilot.press("x")
            await pilot.press("x")
            await pilot.press("u")  # takes back the second rejection, which was never saved
            assert len(app.session.pending) == 1
            await pilot.press("U")  # redo needs the database: it says so, nothing crashes
            assert app.is_running
            await pilot.press("ctrl+q")
            await pilot.press("ctrl+q")
            await pilot.pause(0.3)
            assert not app.is_running
    assert saved(db, ids[0]) is None and saved(db, ids[1]) is None


def test_the_lock_holder_is_named(db):
    with write_lock_held(db):
        assert holder_kind() in (write_lock_holder(db) or "")
    assert write_lock_holder(db) is None


def test_the_command_line_says_the_database_is_busy_and_by_whom(db):
    from annotator.errors import DatabaseBusy

    store = Store.open(db)
    with write_lock_held(db):
        with pytest.raises(DatabaseBusy, match=f"{holder_kind()}.*try again"):
            with store.write(wait=0.1):
                pass
    store.close()

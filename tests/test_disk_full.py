"""A full disk: a write that fails for lack of space is the project's own error, saying so in
one line; the annotation screen keeps the decision pending (as for a busy database), says so
on the top bar, and saves it once there is room again; nothing saved before is lost.

The disk is made full with SQLite's own limit on the database's size (``PRAGMA
max_page_count``): a write that needs a page more fails with SQLITE_FULL, "database or disk is
full", as it does when the file system has no room left.
"""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from _ui_fixtures import build_project, saved, ui_db  # noqa: F401 (ui_db: the db fixture)
from annotator.cli import cli
from annotator.errors import AnnotatorError, DiskFull
from annotator.schemes import get_scheme
from annotator.services.session import PENDING, SAVED, Session
from annotator.store import AnnotationState, Store
from annotator.store import db as dbmod
from annotator.ui.app import make_app
from annotator.ui.widgets import TopBar

NO_LIMIT = 2**31 - 2
SIZE = (140, 30)


def cap_at_current_size(store: Store) -> None:
    """From now on this connection's database cannot grow by a single page (SQLite never sets
    the limit below the current size: 1 becomes exactly that)."""
    store.db.execute("PRAGMA max_page_count = 1")


def lift_the_cap(store: Store) -> None:
    store.db.execute(f"PRAGMA max_page_count = {NO_LIMIT}")


ACCEPTED = AnnotationState((), (), "accepted")  # accepting a segment without suggestions


class _RolledBack(Exception):
    pass


def fits(store: Store, segment_id: int, annotator: str, state: AnnotationState) -> bool:
    """Whether this decision could be written now (tried, then rolled back)."""
    try:
        with store.write():
            store.decide(segment_id, annotator, state)
            raise _RolledBack
    except _RolledBack:
        return True
    except Exception as exc:  # before the fix: sqlite3.OperationalError
        assert "full" in str(exc), exc
        return False


def fill_the_disk(store: Store, segment_id: int, annotator: str = "ann", state: AnnotationState = ACCEPTED) -> None:
    """Cap the database at its size and use up the room left in its pages with other
    annotators' decisions of the same size, until ``annotator``'s decision ``state`` on
    ``segment_id`` no longer fits: as on a disk with no room left."""
    cap_at_current_size(store)
    names = (a + b + c for a in "bcdefg" for b in "abcdefghijklmnopqrstuvwxyz" for c in "abcdefghijklmnopqrstuvwxyz")
    for name in names:
        try:
            store.decide(segment_id, name, state)
        except Exception as exc:
            assert "full" in str(exc), exc
        if not fits(store, segment_id, annotator, state):
            return
    raise AssertionError("the capped database never filled up")


def top_bar(app) -> str:
    return str(app.screen.query_one("#busy", TopBar).render())


# ------------------------------------------------------------------------------- the store
def test_a_write_that_finds_the_disk_full_is_the_projects_own_error_and_keeps_everything(tmp_path):
    store = build_project(tmp_path / "p.db")
    first = store.segment_ids()[0]
    store.decide(first, "ann", AnnotationState(("Economic",), (), "corrected"))
    fill_the_disk(store, store.segment_ids()[1])
    with pytest.raises(DiskFull) as caught:
        store.decide(store.segment_ids()[1], "ann", AnnotationState((), (), "rejected"))
    assert isinstance(caught.value, AnnotatorError)
    message = str(caught.value)
    assert "\n" not in message and "disk is full" in message and "p.db" in message
    assert "nothing saved before is lost" in message
    assert not store.db.conn.in_transaction  # rolled back: the next write is a transaction of its own
    assert saved(tmp_path / "p.db", first).state.frames == ("Economic",)  # what was saved stays
    assert saved(tmp_path / "p.db", store.segment_ids()[1]) is None
    lift_the_cap(store)
    store.decide(store.segment_ids()[1], "ann", AnnotationState((), (), "rejected"))
    assert saved(tmp_path / "p.db", store.segment_ids()[1]).state.status == "rejected"
    store.close()


def test_the_session_keeps_decisions_pending_while_the_disk_is_full_then_saves_them(tmp_path):
    store = build_project(tmp_path / "p.db")
    session = Session(store, "ann", get_scheme("framing"), wait=0)
    a, b = session.ids[:2]
    assert session.accept(a) == SAVED
    fill_the_disk(store, b)
    assert session.reject(b) == PENDING  # never an sqlite3 error
    assert isinstance(session.busy, DiskFull)
    assert session.view(b).pending and session.rows(1, 1)[0].status == "pending"
    assert session.flush_pending() == 0  # still full: still pending
    with pytest.raises(DiskFull):  # what cannot wait (redo) says why, as the project's error
        session.redo()
    lift_the_cap(store)
    assert session.flush_pending() == 1 and session.busy is None
    assert saved(tmp_path / "p.db", b).state.status == "rejected"
    assert saved(tmp_path / "p.db", a).state.status == "accepted"
    store.close()


# ------------------------------------------------------------------------------ the screen
async def test_the_screen_says_the_disk_is_full_keeps_the_decision_pending_and_saves_it_later(db):
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=SIZE) as pilot:
        ids = app.session.ids
        store = app.session.store
        await pilot.press("x")  # saved while there is room
        fill_the_disk(store, ids[1])
        await pilot.press("a")  # the write fails for lack of space
        await pilot.pause(0.1)
        assert app.is_running
        assert saved(db, ids[1]) is None
        bar = top_bar(app)
        assert "disk full" in bar and "1 decision not saved yet" in bar and "nothing saved is lost" in bar
        assert app.session.rows(1, 1)[0].status == "pending"
        assert saved(db, ids[0]).state.status == "rejected"  # saved before: still there
        lift_the_cap(store)
        deadline = time.monotonic() + 10
        while app.session.pending and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert saved(db, ids[1]).state.status == "accepted"
        assert top_bar(app) == ""
        assert app.is_running


# ---------------------------------------------------------------------------- the commands
@pytest.fixture
def capped_connections(monkeypatch):
    """Every connection the command opens finds the disk full: its database cannot grow."""
    configure = dbmod.configure

    def capped(db):
        configure(db)
        db.execute("PRAGMA max_page_count = 1")

    monkeypatch.setattr(dbmod, "configure", capped)


def counts(path: Path) -> tuple:
    store = Store.open(path)
    try:
        c = store.counts()
        return c["speeches"], c["segments"]
    finally:
        store.close()


def test_import_on_a_full_disk_is_one_line_and_changes_nothing(tmp_path, db, capped_connections):
    speech = tmp_path / "long.txt"
    speech.write_text(" ".join(f"Sentence number {i} of a long speech about the economy." for i in range(600)),
                      encoding="utf-8")
    before = counts(db)
    result = CliRunner().invoke(cli, ["import", str(speech), "--db", str(db), "--lang", "en"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    assert result.stderr.count("\n") == 1 and "disk is full" in result.stderr
    assert counts(db) == before


def test_a_first_import_on_a_full_disk_is_one_line_and_leaves_no_database(tmp_path, capped_connections):
    speech = tmp_path / "s.txt"
    speech.write_text("We will build a stronger economy.", encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    result = CliRunner().invoke(cli, ["import", str(speech), "--db", str(project / "new.db"), "--lang", "en"])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "disk is full" in result.stderr and "free some space" in result.stderr
    assert f"{project / 'new.db'}: " in result.stderr  # the file asked for, not the hidden one it is built as
    assert list(project.iterdir()) == []


def test_no_space_for_a_file_a_command_writes_is_one_line(tmp_path, db, monkeypatch):
    """A command that writes files (an export, a model's weights) on a full disk: one line."""
    from annotator.export import formats

    out = tmp_path / "exports" / "gold.jsonl"

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(formats, "export_gold", no_space)
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--base-dir", str(out.parent)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and "no space left" in result.stderr.lower()
    assert "gold.jsonl" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("failure", [
    OSError(errno.ENOSPC, "No space left on device"),
    Exception("Error while serializing: I/O error: No space left on device (os error 28)"),  # safetensors' words
])
def test_a_model_folder_that_finds_no_space_is_one_line_and_leaves_nothing(tmp_path, failure):
    from annotator.ml.registry import building

    final = tmp_path / "models" / "frames" / "frames-new"
    with pytest.raises(DiskFull) as caught:
        with building(final) as staging:
            (staging / "config.json").write_text("{}", encoding="utf-8")
            raise failure  # the weights did not fit
    assert "\n" not in str(caught.value) and "frames-new: the disk is full" in str(caught.value)
    assert list(final.parent.iterdir()) == []  # no half-written folder, no staging left


def test_a_new_project_on_a_disk_that_takes_no_byte_is_one_line(tmp_path):
    """The very first write of a new project (switching it to WAL) fails on a disk with no room
    at all — a real one this time: the process may write no byte to any file (RLIMIT_FSIZE,
    which fails writes as a full file system does). One line, exit 2, no database left behind."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    speech = tmp_path / "s1.txt"
    speech.write_text("Hello world. This is a speech.\n", encoding="utf-8")

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    run = subprocess.run([sys.executable, "-m", "annotator", "import", str(speech), "--db", str(tmp_path / "new.db"),
                          "--lang", "en"], preexec_fn=no_room, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert "new.db" in lines[0] and "nothing saved before is lost" in lines[0]
    assert not (tmp_path / "new.db").exists()


def test_the_screen_opens_on_a_full_disk_to_read(tmp_path):
    """Opening a session writes nothing where the scheme is registered already, so a full disk
    does not keep a linguist from reading the project (and their decisions wait, pending)."""
    store = build_project(tmp_path / "p.db")
    scheme = get_scheme("framing")
    Session(store, "ann", scheme)
    fill_the_disk(store, store.segment_ids()[0])
    writes = store.db.conn.total_changes
    session = Session(store, "ann", scheme)  # no DiskFull
    assert store.db.conn.total_changes == writes  # opened without writing a row
    assert session.accept(store.segment_ids()[0]) == PENDING
    lift_the_cap(store)

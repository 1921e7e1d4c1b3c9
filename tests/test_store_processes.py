"""The store with real processes side by side: the UI open while the CLI, the sqlite3 shell and
a colleague's script read the same file; nothing acknowledged is ever lost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from annotator.errors import AnnotatorError
from annotator.store import Store
from annotator.store.db import database_files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _store_trial import make_project, run_trial  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("quit", [False, True], ids=["sigkill", "clean-quit"])
def test_ui_with_readers_alongside_keeps_every_acknowledged_decision(tmp_path, quit):
    for trial in range(2):
        folder = tmp_path / str(trial)
        folder.mkdir()
        result = run_trial(folder, decisions=40, quit=quit)
        assert result.acknowledged >= 40
        assert result.errors == ()  # no "disk I/O error" in the UI's worker connection
        assert result.lost == 0
        assert result.integrity == "ok"


_WATCHED: list[Path] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _WATCHED and isinstance(args[0], (str, bytes, Path)):
        name = Path(args[0] if not isinstance(args[0], bytes) else args[0].decode())
        if any(name.absolute() == w.absolute() for w in _WATCHED):
            raise AssertionError(f"{name} was opened outside SQLite")


sys.addaudithook(_audit)


def test_opening_and_reopening_never_opens_the_file_outside_sqlite(tmp_path):
    path = tmp_path / "p.db"
    make_project(path)
    _WATCHED[:] = database_files(path)
    try:
        store = Store.open(path)
        worker = store.reopen()
        worker.counts()
        worker.close()
        from annotator.store.team_queries import read_other

        assert read_other(path)["speeches"]  # a merge reads a colleague's file whole, through SQLite
        store.close()
    finally:
        _WATCHED.clear()


def test_not_a_database_is_told_by_sqlite(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("hello, this is not a database at all" * 10)
    with pytest.raises(AnnotatorError, match="notes.db: not an SQLite database"):
        Store.open(bad)


def test_importing_the_projects_own_database_is_refused_before_reading_it(tmp_path):
    from annotator.corpora.importer import import_paths

    path = tmp_path / "p.db"
    make_project(path)
    store = Store.open(path)
    _WATCHED[:] = database_files(path)
    try:
        with pytest.raises(AnnotatorError, match="is this project's database"):
            import_paths(store, [path])
        with pytest.raises(AnnotatorError, match="is this project's database"):
            import_paths(store, [Path(str(path) + "-wal")])
    finally:
        _WATCHED.clear()
    assert store.counts()["speeches"] == 1


TOGGLER = """
import sys, time
from pathlib import Path
from annotator.schemes import get_scheme
from annotator.services.session import Session
from annotator.store import Store

path, segment, label, n, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
session = Session(Store.open(path), "anna", get_scheme("framing"), wait=60)
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for i in range(n):
    assert session.toggle_frame(segment, label) == "saved"
    if i % 7 == 0:
        assert session.accept(segment) == "saved"   # accept keeps the labels as they stand
"""


@pytest.mark.slow
def test_one_annotator_in_two_windows_loses_no_update(tmp_path):
    """Two processes toggle different frames on one segment as the same annotator: each
    frame ends up as its own window's parity says, and the history is one unbroken chain."""
    import subprocess

    from _store_trial import _env

    path = tmp_path / "p.db"
    make_project(path)
    store = Store.open(path)
    segment = store.segment_ids()[0]
    go = tmp_path / "go"
    runs = {"Economic": 301, "Morality": 300, "Political": 299}
    procs = [subprocess.Popen([sys.executable, "-c", TOGGLER, str(path), str(segment), label, str(n), str(go)],
                              stdout=subprocess.PIPE, text=True, env=_env()) for label, n in runs.items()]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    for p in procs:
        assert p.wait(timeout=300) == 0
    frames = set(store.annotation(segment, "anna").state.frames)
    assert frames == {label for label, n in runs.items() if n % 2}
    history = store.history(segment, "anna")
    assert len(history) == sum(runs.values()) + sum(-(-n // 7) for n in runs.values())
    for earlier, later in zip(history, history[1:]):
        assert later["before"] == earlier["state"]  # every decision starts from the one before it

"""Real processes side by side on one project database, the way people work.

One trial: a UI-like process keeps a main connection open and makes decisions on it, while a
worker thread of the same process opens and closes its own connection (as the annotation UI
does for suggestions and retraining); meanwhile readers run alongside — the ``annotator status``
command line and the ``sqlite3`` shell — and then the UI-like process is killed with SIGKILL.
Every decision it acknowledged (printed after its commit returned) must be in the database, and
``pragma integrity_check`` must pass.

Used by ``tests/test_store_processes.py`` (a few trials) and ``bench/soak_store.py`` (hundreds).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

UI_LIKE = textwrap.dedent("""
    import signal, sys, threading, time
    from annotator.store import AnnotationState, Store

    path = sys.argv[1]
    store = Store.open(path)          # the UI's main connection, open all along
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())   # "ctrl+q"

    def say(*words):
        print(*words, flush=True)

    def worker():                     # suggestion / training workers: their own connection
        while not stop.is_set():
            try:
                other = store.reopen()
                other.counts()
                other.close()
            except Exception as exc:  # the UI would show "suggestions failed"
                say("error", type(exc).__name__, exc)
                return
            time.sleep(0.003)

    threading.Thread(target=worker, daemon=True).start()
    ids = store.segment_ids()
    i = 0
    while not stop.is_set():
        segment = ids[i % len(ids)]
        uid = store.decide(segment, "ui", AnnotationState((f"F{i}",), (), "corrected"))
        say("ack", uid)               # acknowledged: the UI would now show it as saved
        i += 1
        time.sleep(0.002)
    store.close()
    say("closed")
""")



@dataclass
class TrialResult:
    acknowledged: int
    lost: int
    integrity: str  # "ok", or what integrity_check (or opening the file) said
    errors: tuple[str, ...] = ()  # what the UI-like process's connections ran into

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.integrity == "ok" and not self.errors


def make_project(path: Path, segments: int = 12) -> None:
    from annotator.store import Store

    store = Store.open(path)
    text = " ".join(f"Sentence number {i}." for i in range(segments))
    segs, start = [], 0
    for i in range(segments):
        piece = f"Sentence number {i}."
        segs.append({"start": start, "end": start + len(piece), "text": piece, "language": "en"})
        start += len(piece) + 1
    store.add_speech({"content_hash": f"{hash(text):x}".rjust(64, "0"), "text": text, "language": "en"}, segs)
    store.close()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# A colleague's script that reads the project now and then: open, count, close, many times.
COLLEAGUE = textwrap.dedent("""
    import sqlite3, sys, time
    for _ in range(int(sys.argv[2])):
        conn = sqlite3.connect(sys.argv[1], timeout=30)
        conn.execute("SELECT count(*) FROM annotations").fetchone()
        conn.close()
        time.sleep(0.005)
""")


def _readers(path: Path) -> list[list[str]]:
    """The command line, the sqlite3 shell (where installed) and a colleague's script."""
    readers = [[sys.executable, "-m", "annotator", "status", "--db", str(path)],
               [sys.executable, "-c", COLLEAGUE, str(path), "40"]]
    shell = shutil.which("sqlite3")
    if shell:
        readers.append([shell, str(path), "select count(*) from annotations"])
    return readers


def run_trial(folder: Path, decisions: int = 40, readers: int = 3, quit: bool = False) -> TrialResult:
    """One trial in ``folder``: decisions with readers alongside, then SIGKILL (or, with
    ``quit``, a clean close as ctrl+q does), then the check."""
    path = folder / "project.db"
    make_project(path)
    env = _env()
    ui = subprocess.Popen([sys.executable, "-c", UI_LIKE, str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env)
    acked: list[str] = []
    errors: list[str] = []
    running: list[subprocess.Popen] = []

    def read(count: int) -> None:
        while count > 0:
            line = ui.stdout.readline()
            if not line:
                raise RuntimeError(f"the UI-like process stopped: {ui.stderr.read()[-2000:]}")
            kind, _, rest = line.strip().partition(" ")
            if kind == "ack":
                acked.append(rest)
                count -= 1
            elif kind == "error":
                errors.append(rest)

    try:
        spread = max(decisions // (readers + 1), 1)
        for n in range(decisions):
            read(1)
            if n % spread == spread - 1 and len(running) < readers * 3:
                # readers open, read and close while the UI goes on writing
                running += [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                            for c in _readers(path)]
        for reader in running:
            reader.wait(timeout=120)
        read(5)  # a few more decisions after the last reader closed
        if quit:
            ui.send_signal(signal.SIGTERM)
            for line in ui.stdout:
                kind, _, rest = line.strip().partition(" ")
                if kind == "ack":
                    acked.append(rest)
                elif kind == "error":
                    errors.append(rest)
            ui.wait(timeout=60)
    finally:
        if ui.poll() is None:
            os.kill(ui.pid, signal.SIGKILL)
        ui.wait()
        for reader in running:
            if reader.poll() is None:
                reader.kill()
    result = check(path, acked)
    result.errors = tuple(errors)
    return result


def check(path: Path, acked: list[str]) -> TrialResult:
    """What survived: acknowledged history entries still there, and the file's integrity."""
    try:
        conn = sqlite3.connect(path)
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        present = {r[0] for r in conn.execute("SELECT uid FROM annotation_history")}
        conn.close()
    except sqlite3.DatabaseError as exc:
        return TrialResult(len(acked), len(acked), f"cannot read: {exc}")
    return TrialResult(len(acked), sum(uid not in present for uid in acked), integrity)


if __name__ == "__main__":  # one trial by hand: python tests/_store_trial.py /tmp/folder
    import tempfile

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--quit" else Path(tempfile.mkdtemp())
    started = time.perf_counter()
    print(run_trial(folder, quit="--quit" in sys.argv), f"{time.perf_counter() - started:.1f}s")

"""Who holds the project's write lock, when SQLite says the database is busy.

SQLite itself cannot name the process that holds a lock, but on Linux the kernel can: in WAL
mode a writer holds a POSIX write lock on byte 120 of the ``-shm`` file (WAL_WRITE_LOCK), and
``/proc/locks`` lists every POSIX lock with its process id. From ``/proc/<pid>/cmdline`` we
tell what kind of process it is ("the sqlite3 shell", "annotator import", "this window's
background work"). Only ``stat`` and ``/proc`` are read: the database files are never opened
here (see :func:`annotator.store.db.connect`). Elsewhere the answer is simply unknown.
"""

from __future__ import annotations

import os
from pathlib import Path

WAL_WRITE_LOCK_BYTE = 120  # WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK in SQLite's os_unix.c


def write_lock_holder(db_path: str | Path) -> str | None:
    """A short description of the process holding the write lock, or ``None`` if unknown."""
    pid = _holder_pid(Path(str(db_path) + "-shm"))
    if pid is None:
        return None
    return describe_process(pid)


def _lock_key(st: os.stat_result) -> str:
    """How ``/proc/locks`` names a file: device major:minor (hex) and inode."""
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"


def _proc_locks() -> str | None:
    try:
        return Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def locked(paths: list[Path]) -> bool | None:
    """Whether any process holds a lock on any of ``paths`` that exist (an SQLite connection in
    WAL mode holds one on the ``-shm`` file for as long as it is open); ``None`` where the system
    cannot tell (no ``/proc/locks``)."""
    locks = _proc_locks()
    if locks is None:
        return None
    keys = set()
    for path in paths:
        try:
            keys.add(_lock_key(os.stat(path)))
        except OSError:
            continue
    # "1: POSIX  ADVISORY  READ 9677 fe:00:2163954 128 128" (a waiter's line has a "->" more)
    return any(not keys.isdisjoint(line.split()) for line in locks.splitlines())


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _holder_pid(shm: Path) -> int | None:
    try:
        st = os.stat(shm)
    except OSError:
        return None
    locks = _proc_locks()
    if locks is None:
        return None
    device = _lock_key(st)
    for line in locks.splitlines():
        # "1: POSIX  ADVISORY  WRITE 4031 fe:00:2146488 120 120"
        fields = line.split()
        if len(fields) < 8 or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        pid, where, start, end = fields[4], fields[5], fields[6], fields[7]
        if where != device or not pid.isdigit():
            continue
        try:
            first = int(start)
            last = int(end) if end != "EOF" else first
        except ValueError:
            continue
        if first <= WAL_WRITE_LOCK_BYTE <= last:
            return int(pid)
    return None


def describe_process(pid: int) -> str:
    """"the sqlite3 shell (pid 123)", "annotator import (pid 456)", "this window's background work"."""
    if pid == os.getpid():
        return "this window's background work (suggestions or training)"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"process {pid}"
    words = [a.decode("utf-8", "replace") for a in argv if a]
    if not words:
        return f"process {pid}"
    names = [os.path.basename(w) for w in words]
    program = names[0]
    if program.startswith("sqlite3"):
        kind = "the sqlite3 shell"
    elif "annotator" in names[:3]:  # the console script, or python [-m] annotator
        rest = words[names.index("annotator") + 1:]
        command = next((w for w in rest if not w.startswith("-")), "")
        kind = f"annotator {command}".strip()
    elif program.startswith("python"):
        script = next((w for w in words[1:] if not w.startswith("-")), "")
        kind = f"a Python process ({os.path.basename(script)})" if script else "a Python process"
    else:
        kind = program
    return f"{kind} (pid {pid})"

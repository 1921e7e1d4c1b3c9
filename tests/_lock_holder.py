"""Another process that holds the project's write lock: the sqlite3 shell in the middle of a
transaction (or, where the shell is not installed, a Python script doing the same)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from annotator.store.locks import write_lock_holder

HOLDER_SCRIPT = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
for line in sys.stdin:
    conn.execute(line)
"""


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[subprocess.Popen]:
    """Hold the write lock until the block ends (then roll back); yields the holding process."""
    shell = shutil.which("sqlite3")
    command = [shell, str(path)] if shell else [sys.executable, "-c", HOLDER_SCRIPT, str(path)]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        proc.stdin.write("BEGIN IMMEDIATE;\n" if shell else "BEGIN IMMEDIATE\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 20
        while write_lock_holder(path) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the other process never took the write lock")
            time.sleep(0.02)
        yield proc
    finally:
        if proc.poll() is None:
            proc.stdin.write("ROLLBACK;\n" if shell else "ROLLBACK\n")
            proc.stdin.close()
            proc.wait(timeout=20)


def holder_kind() -> str:
    return "sqlite3 shell" if shutil.which("sqlite3") else "Python process"

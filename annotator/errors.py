"""Errors a user can act on.

Every error the tool reports to a user is an :class:`AnnotatorError`: its message is one line
that names the file, line or value and says what to do. The CLI prints it on stderr and exits
with status 2, never with a traceback.
"""

from __future__ import annotations


def shown(value: object) -> str:
    """A file name (or any value from outside) as a message may quote it: as it is when every
    character is printable, else quoted with escapes (``'notes\\x1b[2J.txt'``), so that an
    escape sequence, a newline or a bidi override in a name never reaches the terminal raw."""
    text = str(value)
    return text if text.isprintable() else repr(text)


class AnnotatorError(Exception):
    """A problem the user can fix; ``str(err)`` is the one-line message shown to them."""


class InputError(AnnotatorError):
    """Bad input data: ``file:line: what is wrong``."""

    def __init__(self, path: object, problem: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{shown(self.path)}:{line}" if line is not None else shown(self.path)
        super().__init__(f"{where}: {problem}")


class ModelNotFoundError(AnnotatorError):
    """A model is not on disk; the message says where the tool looked and how to get it."""


class UnsafeModelError(AnnotatorError):
    """A model folder the tool refuses to load: only pickled weights, or code of its own
    (an ``auto_map``, Python files), which would run on loading."""


class CannotWriteNow(AnnotatorError):
    """The project database cannot take a write just now: nothing of this write was kept,
    everything saved before is, and the same write may succeed later (the annotation screen
    keeps such decisions pending and retries them)."""


class DatabaseBusy(CannotWriteNow):
    """Another connection holds the project's write lock; ``holder`` says which process, if known."""

    def __init__(self, holder: str | None = None) -> None:
        self.holder = holder
        who = f" ({holder})" if holder else ""
        super().__init__(f"the database is busy: another process holds its write lock{who}; try again")


class DiskFull(CannotWriteNow):
    """A write to the project database failed for lack of space (SQLite's "database or disk is
    full"), or the disk failed it (``io_error``: "disk I/O error"). It was rolled back whole."""

    def __init__(self, path: object = None, io_error: bool = False) -> None:
        self.path = None if path is None else str(path)
        self.io_error = io_error
        where = f"{shown(self.path)}: " if self.path else ""
        problem = "the disk failed a write (disk I/O error)" if io_error else "the disk is full"
        super().__init__(f"{where}{problem}; this change was not written and nothing saved before is lost: "
                         f"{'check the disk' if io_error else 'free some space'} and try again")

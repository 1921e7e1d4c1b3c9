"""Opening a project database: WAL, foreign keys, busy timeout, migrations, write transactions."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from annotator.errors import AnnotatorError, DatabaseBusy, DiskFull, shown
from annotator.store.locks import write_lock_holder
from annotator.store.schema import migrations

BUSY_TIMEOUT_MS = 30_000


def connect(path: str | Path, *, migrate: bool = True) -> Database:
    """Open (creating if needed) a project database, bringing its schema up to date.

    A ``Database`` is bound to the thread that opened it: a worker thread opens its own.

    The file is only ever opened by SQLite. Peeking at its header with Python's ``open()``
    would be fatal: closing any descriptor of a file drops every POSIX lock this process holds
    on it, so another process would think it was the last one, checkpoint and delete the WAL
    under our open connections ("How To Corrupt An SQLite Database File", section 2.2).
    """
    path = Path(path)
    if path.is_dir():
        raise AnnotatorError(f"{shown(path)}: is a folder, not a database file")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    except sqlite3.Error as exc:
        raise AnnotatorError(f"{shown(path)}: cannot open database ({exc})") from None
    check_is_database(conn, path)
    db = Database(conn)
    try:
        configure(db)  # a new database's first write (WAL mode) is here: a full disk fails it
    except sqlite3.Error as exc:
        conn.close()
        if disk_error(exc):
            raise DiskFull(path, io_error=is_io_error(exc)) from None
        raise AnnotatorError(f"{shown(path)}: cannot open the database ({exc})") from None
    if migrate:
        _migrate(db, path)
    return db


def _migrate(db: Database, path: Path) -> None:
    """Bring the schema up to date. Two processes opening an older database at once both
    see the same steps pending; the one that loses the race finds them applied and goes on."""
    for attempt in range(3):
        try:
            migrations.apply(db)
            return
        except sqlite3.OperationalError as exc:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            if disk_error(exc):
                raise DiskFull(path, io_error=is_io_error(exc)) from None
            if not list(migrations.pending(db)):
                return  # another process applied them meanwhile
            if attempt == 2:
                raise AnnotatorError(f"{shown(path)}: cannot bring the database up to date ({exc}); "
                                     "try again") from None
            time.sleep(0.5)


def check_is_database(conn: sqlite3.Connection, path: str | Path) -> None:
    """Fail with one clear line if SQLite cannot read ``path`` as a database (asks SQLite itself)."""
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        conn.close()
        if disk_error(exc):
            raise DiskFull(path, io_error=is_io_error(exc)) from None
        if "not a database" in str(exc):
            raise AnnotatorError(f"{shown(path)}: not an SQLite database") from None
        if "malformed" in str(exc):
            raise AnnotatorError(f"{shown(path)}: the database is damaged (truncated or corrupt: {exc})") from None
        raise AnnotatorError(f"{shown(path)}: cannot read the database ({exc})") from None


def database_files(path: str | Path) -> list[Path]:
    """The database file and the companions SQLite keeps beside it."""
    path = Path(path)
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]


def same_file(candidate: Path, files: list[Path]) -> bool:
    """Whether ``candidate`` is one of ``files`` (by inode where both exist; ``stat`` opens nothing)."""
    for f in files:
        try:
            if os.path.samefile(candidate, f):
                return True
        except OSError:
            if candidate.absolute() == f.absolute():
                return True
    return False


def memory() -> Database:
    """An in-memory database with the full schema, for tests and dry runs."""
    db = Database(sqlite3.connect(":memory:", check_same_thread=False))
    configure(db)
    migrations.apply(db)
    return db


def configure(db: Database) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "memory" and mode != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    # In WAL mode NORMAL is still crash-safe for the database (a power cut may lose the very
    # last commit, a killed process loses nothing committed).
    db.execute("PRAGMA synchronous = NORMAL")


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


SQLITE_IOERR, SQLITE_FULL = 10, 13  # SQLite's primary result codes (the low byte of extended ones)


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_io_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and (_primary_code(exc) == SQLITE_IOERR or "disk I/O error" in str(exc))


def disk_error(exc: BaseException) -> bool:
    """Whether SQLite failed a write for lack of space (SQLITE_FULL: "database or disk is full")
    or because the disk failed it (SQLITE_IOERR: "disk I/O error")."""
    if not isinstance(exc, sqlite3.Error):
        return False
    return _primary_code(exc) == SQLITE_FULL or "database or disk is full" in str(exc) or is_io_error(exc)


def as_write_error(exc: BaseException, path: str | Path | None) -> BaseException:
    """The error a failed write raises: :class:`DiskFull` where the disk is full (or failed the
    write), else ``exc`` itself. The one place that turns SQLite's words for it into ours."""
    if disk_error(exc):
        return DiskFull(path, io_error=is_io_error(exc))
    return exc


@contextlib.contextmanager
def write(db: Database, wait: float | None = None, path: str | Path | None = None) -> Iterator[Database]:
    """One write transaction, taken with ``BEGIN IMMEDIATE``.

    Taking the write lock up front means two processes never both read and then fail to
    upgrade (a deadlock SQLite resolves by failing one of them), and whatever the block reads
    stays true until it commits: a read-modify-write inside it cannot lose another process's
    update. A busy lock is waited for — ``wait`` seconds, or the connection's busy timeout —
    and then :class:`DatabaseBusy` says so, naming the process that holds it where the system
    can tell. Nested use joins the outer transaction.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    if wait is not None:
        db.execute(f"PRAGMA busy_timeout = {max(int(wait * 1000), 0)}")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            _raise_as_write_error(exc, path)
        raise DatabaseBusy(write_lock_holder(path) if path else None) from None
    finally:
        if wait is not None:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        yield db
    except BaseException as exc:
        # SQLite may have rolled back already (it does on SQLITE_FULL in some statements)
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        _raise_as_write_error(exc, path)
    try:
        db.execute("COMMIT")
    except BaseException as exc:
        # A failed COMMIT (disk full, I/O error) leaves the transaction open: later writes
        # would join it and never commit. Roll it back, and say so.
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        _raise_as_write_error(exc, path)


def _raise_as_write_error(exc: BaseException, path: str | Path | None) -> None:
    error = as_write_error(exc, path)
    if error is exc:
        raise exc
    raise error from None


def applied_steps(db: Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]

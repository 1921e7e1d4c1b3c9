"""Opening a project database: WAL, foreign keys, busy timeout, migrations, write transactions."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from annotator.errors import AnnotatorError, DatabaseBusy, shown
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
    configure(db)
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
            raise
        raise DatabaseBusy(write_lock_holder(path) if path else None) from None
    finally:
        if wait is not None:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    try:
        db.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (disk full, I/O error) leaves the transaction open: later writes
        # would join it and never commit. Roll it back, and say so.
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise


def applied_steps(db: Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]

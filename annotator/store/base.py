"""What the parts of the store share: the one connection, and small helpers over sqlite-utils.

Each aggregate (speeches, segments, search, translations, ...) is a :class:`StorePart` in its own
module; :class:`annotator.store.store.Store` composes them, so they all work on the store's one
``Database`` and inside its write transactions. Rows are read with sqlite-utils' public
``Database.query`` (dicts) or ``Database.execute`` (tuples, for ids and single values).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from annotator.store.db import write as db_write

Params = Sequence[Any] | dict[str, Any]


class StorePart:
    """One aggregate's methods of the :class:`~annotator.store.store.Store`."""

    db: Database
    path: Path | None

    def write(self, wait: float | None = None) -> AbstractContextManager[Database]:
        """One write transaction (``BEGIN IMMEDIATE``) on the store's connection; ``wait``:
        seconds to wait for a busy lock before :class:`~annotator.errors.DatabaseBusy`
        (default: the connection's 30 s). Nested use joins the outer transaction."""
        return db_write(self.db, wait=wait, path=self.path)


def first(db: Database, sql: str, params: Params = ()) -> dict[str, Any] | None:
    """The first row ``sql`` returns, as a dict, or ``None``. Every row is read, so no statement
    is left open on the connection: give a query that returns one row."""
    found = list(db.query(sql, params))
    return found[0] if found else None


def scalar(db: Database, sql: str, params: Params = ()) -> Any:
    """The first column of the first row, or ``None`` when there is no row."""
    row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def marks(values: Sequence[Any]) -> str:
    """``?, ?, ?`` for an ``IN (...)`` over ``values``."""
    return ",".join("?" * len(values))


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")

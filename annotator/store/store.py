"""The project store: every read and write of the project database goes through here.

One ``Store`` wraps one sqlite-utils ``Database``. Each public write is one transaction
(``db.write``), so a killed process never leaves half of a decision or of an import behind.

This module opens and closes the store and runs its transactions; the methods of each
aggregate live in their own module, all on this one connection:

==================  ==================================================================
speeches.py         adding a speech with its segments, reading speeches
segments.py         reading segments
search.py           the segment list's filters, full-text search, bulk indexing
translations.py     translations and the translation memory
suggestions.py      model suggestions and runs
models.py           registered and active models
glossary.py         the glossary
annotations.py      decisions, their history, undo and redo
speech_annotations.py  decisions on whole speeches (frames), their history, undo and redo
speech_suggestions.py  what models suggest for whole speeches (every label's score)
assignments.py      work queues
counts.py           ``annotator status``
schemes.py          label schemes
splits.py           each speech's side of the train/dev/test split
embeddings.py       the sentence-embedding cache
priors.py           which annotator names hold pre-annotations (seed labels, ``--prior`` imports)
==================  ==================================================================
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlite_utils import Database

from annotator.errors import AnnotatorError, DiskFull, shown
from annotator.store import db as dbmod
from annotator.store.annotations import Annotations
from annotator.store.assignments import Assignments
from annotator.store.base import utcnow
from annotator.store.counts import Counts
from annotator.store.embeddings import Embeddings
from annotator.store.glossary import Glossary
from annotator.store.locks import locked, process_alive
from annotator.store.models import GLOSSARY_VERSION, Models
from annotator.store.priors import Priors
from annotator.store.schemes import Schemes
from annotator.store.search import Search, SegmentFilter
from annotator.store.segments import Segments
from annotator.store.speech_annotations import SpeechAnnotations
from annotator.store.speech_suggestions import SpeechSuggestions
from annotator.store.speeches import Speeches
from annotator.store.splits import SplitSides
from annotator.store.suggestions import Suggestions
from annotator.store.translations import Translations


# Also importable from here, as before the split: GLOSSARY_VERSION, SegmentFilter, utcnow.
__all__ = ["GLOSSARY_VERSION", "SegmentFilter", "Store", "utcnow"]


class Store(Speeches, Segments, Search, Translations, Suggestions, Models, Glossary, Annotations, Assignments,
            Counts, Schemes, SplitSides, Embeddings, SpeechAnnotations, SpeechSuggestions, Priors):
    def __init__(self, db: Database, path: Path | None = None) -> None:
        self.db = db
        self.path = path

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | Path) -> "Store":
        remove_stale_staging(Path(path))
        return cls(dbmod.connect(path), Path(path))

    @classmethod
    @contextlib.contextmanager
    def creating(cls, path: str | Path) -> Iterator["Store"]:
        """A new project database that appears at ``path`` only if the block succeeds.

        It is built under a hidden name beside ``path`` and linked into place once closed (a
        link, unlike a rename, fails if someone created ``path`` meanwhile); on any error it is
        deleted, so a failed first import leaves no empty database behind. The store must not
        be used after the block."""
        path = Path(path)
        remove_stale_staging(path)
        # the writer's process id in the name: a later open tells a dead writer's leftovers
        staging = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.new")
        store: Store | None = None
        try:
            store = cls.open(staging)
            yield store
            try:
                busy = store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:  # writing the pages out: the disk may be full now
                error = dbmod.as_write_error(exc, path)
                if error is exc:
                    raise
                raise error from None
            store.close()
            if busy:
                raise AnnotatorError(f"{shown(path)}: the new database could not be written out whole; "
                                     "nothing was written (run the command again)")
            _place(staging, path)
        except DiskFull as exc:  # named by the file the user asked for, not the hidden one
            raise DiskFull(path, io_error=exc.io_error) from None
        finally:
            if store is not None:
                store.close()
            for f in dbmod.database_files(staging):
                f.unlink(missing_ok=True)

    @classmethod
    def in_memory(cls) -> "Store":
        return cls(dbmod.memory())

    def reopen(self) -> "Store":
        """A new connection to the same file (for a worker thread)."""
        if self.path is None:
            raise AnnotatorError("an in-memory store cannot be reopened from another thread")
        return Store.open(self.path)

    def close(self) -> None:
        self.db.close()

    def refuse_own_files(self, paths: Iterable[str | Path]) -> None:
        """Fail before reading any of ``paths`` that is this project's database (or its WAL,
        shared-memory or journal file): reading it with ``open()`` would drop this process's
        SQLite locks on it (see :func:`annotator.store.db.connect`)."""
        if self.path is None:
            return
        own = dbmod.database_files(self.path)
        for path in paths:
            if dbmod.same_file(Path(path), own):
                raise AnnotatorError(f"{shown(path)}: is this project's database, not a file to import")


LEGACY_STAGING_AGE = 60.0  # seconds: a staging file named without its writer is left alone this long
_swept: set[str] = set()  # databases whose folder this process has cleaned already


def remove_stale_staging(path: Path) -> list[Path]:
    """Remove the leftovers of :meth:`Store.creating` for ``path`` whose writer is dead — a
    killed first import leaves ``.NAME.PID-XXXXXXXX.new`` (and its ``-wal`` and ``-shm``) beside
    it — and return them. A staging database is never removed while its writer process runs or
    while any process holds a lock on it (an open SQLite connection does, on Linux, as
    ``/proc/locks`` shows); one named without its writer (older versions) only when it is
    unlocked and untouched for :data:`LEGACY_STAGING_AGE` seconds. Once per folder and process."""
    key = str(path.absolute())
    if key in _swept:
        return []
    _swept.add(key)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)-)?[0-9a-f]{{8}}\.new(?:-wal|-shm|-journal)?")
    groups: dict[str, list[Path]] = {}
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                if pattern.fullmatch(entry.name):
                    base = entry.name[:entry.name.rindex(".new") + 4]
                    groups.setdefault(base, []).append(Path(entry.path))
    except OSError:
        return []
    removed = []
    for base, files in groups.items():
        if _stale(files, pattern.fullmatch(base).group(1)):
            for f in files:
                with contextlib.suppress(OSError):
                    f.unlink()
                    removed.append(f)
    return removed


def _stale(files: list[Path], pid: str | None) -> bool:
    held = locked(files)
    if held:
        return False
    if pid is not None:
        return not process_alive(int(pid))
    try:
        newest = max(f.stat().st_mtime for f in files)
    except (OSError, ValueError):
        return False
    return held is False and time.time() - newest > LEGACY_STAGING_AGE


def _place(staging: Path, path: Path) -> None:
    """Put the finished database at ``path``, never over a file someone created meanwhile."""
    try:
        os.link(staging, path)
        return
    except FileExistsError:
        raise AnnotatorError(f"{shown(path)}: was created by another process meanwhile; "
                             "nothing was written (run the command again)") from None
    except OSError:
        pass  # no hard links here (FAT, exFAT, some network shares): claim the name, then replace
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        raise AnnotatorError(f"{shown(path)}: was created by another process meanwhile; "
                             "nothing was written (run the command again)") from None
    os.close(fd)  # an empty placeholder no SQLite connection has open
    os.replace(staging, path)

"""SQL for team work (merging project databases, reading decisions in bulk).

Kept apart from the store's aggregates so the team code owns its queries. Another project's
database is read whole, within bounds, by :func:`read_other` (before the merge takes our write
lock); the other functions take a :class:`Store` (ours). Callers wrap the writes in
``store.write()`` so a whole merge is one transaction.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError, shown
from annotator.store.base import first
from annotator.store.db import check_is_database
from annotator.store.decision_log import DecisionTables
from annotator.store.store import Store

SPEECH_COLUMNS = ("content_hash", "external_id", "title", "speaker", "date", "venue", "language", "source",
                  "licence", "text", "imported_at")


@dataclass(frozen=True)
class OtherTable:
    """A table a merge reads from another project: the columns it reads, those a project of an
    older version may lack (with the value they stand for there), and whether such a project may
    lack the whole table."""

    name: str
    columns: tuple[str, ...]
    older: dict[str, Any] = field(default_factory=dict)
    optional: bool = False
    absent: tuple[dict[str, Any], ...] = ()  # the rows an older project without the table stands for


_DECISION = ("annotator", "frames", "status", "created_at", "updated_at")
_HISTORY = ("id", "uid", "annotator", "action", "ref_uid", "state", "before", "created_at")
OTHER_TABLES = (
    OtherTable("speeches", ("id", *SPEECH_COLUMNS)),
    OtherTable("segments", ("id", "uid", "speech_id", "position", "start", "end", "text", "language")),
    OtherTable("translations", ("id", "segment_id", "target_lang", "text", "provenance", "model", "created_at",
                                "alignment", "score"), older={"alignment": "", "score": None}),
    OtherTable("speech_translations", ("speech_id", "target_lang", "text", "source", "aligned_by", "created_at"),
               optional=True),
    OtherTable("glossary", ("source_text", "language", "rendering", "note", "source", "variants"),
               older={"variants": ""}),
    OtherTable("annotations", ("segment_id", "spans", *_DECISION)),
    OtherTable("annotation_history", ("segment_id", *_HISTORY)),
    OtherTable("speech_annotations", ("speech_id", *_DECISION), optional=True),
    OtherTable("speech_annotation_history", ("speech_id", *_HISTORY), optional=True),
    OtherTable("assignments", ("segment_id", "annotator", "created_at"), optional=True),
    OtherTable("split_sides", ("speech_hash", "side"), optional=True),
    # before schema step 14 the seed labels' name alone held pre-annotations (as the step records it)
    OtherTable("prior_annotators", ("annotator",), optional=True, absent=({"annotator": "seed"},)),
)
ROW_KEY = "_row"  # each row read: its rowid, to name it in a message


@dataclass(frozen=True)
class ReadLimits:
    """How much of another project's database a merge reads, at most. The merge reads the file
    whole, into memory, before it takes this project's write lock: these bounds keep a damaged
    or crafted file from filling the memory or running for ever (SQLite itself refuses a longer
    value, and stops a statement once the time is up)."""

    rows: int = 5_000_000  # in one table
    value_bytes: int = 16 * 2**20  # one value (a speech's text, say)
    row_bytes: int = 32 * 2**20  # one row's values together
    total_bytes: int = 2 * 2**30  # every value read, all tables together
    seconds: float = 300.0  # reading and checking the whole file


def read_other(path: str | Path, limits: ReadLimits = ReadLimits()) -> dict[str, list[dict[str, Any]]]:
    """Every row a merge needs from another project's database, as ``{table: rows}`` (a table an
    older project lacks: no rows), each row with its rowid under ``ROW_KEY``; one line
    (:class:`AnnotatorError`) if the file cannot be read within ``limits``.

    The file is opened read-only and checked before anything is read from it: each table read
    must be a plain table with the expected columns (not a view, whose query could run for
    ever, nor a virtual table, nor computed columns); then SQLite checks the file, and each
    table's row count and sizes are measured before its rows are fetched. All of it in one read
    transaction, so the rows fetched are the rows measured."""
    path = Path(path)
    conn = _open_read_only(path)
    reading = "the file"
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.value_bytes)
        deadline = time.monotonic() + limits.seconds
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        conn.execute("PRAGMA trusted_schema = OFF")
        check_is_database(conn, path)  # asks SQLite: the file is never opened outside it
        conn.execute("BEGIN")
        columns = _table_columns(conn, path)
        _check_intact(conn, path)
        total = 0
        for table in OTHER_TABLES:
            reading = f"table {table.name}"
            have = columns.get(table.name)
            if have is None:
                rows[table.name] = [{ROW_KEY: None, **row} for row in table.absent]
                continue
            read = [c for c in table.columns if c in have]
            widths = " + ".join(f'coalesce(length(CAST("{c}" AS BLOB)), 0)' for c in read)
            count, widest, size = conn.execute(
                f'SELECT count(*), max(w), sum(w) FROM (SELECT {widths} AS w FROM "{table.name}")').fetchone()
            if count > limits.rows:
                raise _refused(path, f"table {table.name} has {count} rows, more than a merge reads "
                                     f"({limits.rows})")
            if (widest or 0) > limits.row_bytes:
                raise _refused(path, f"table {table.name} has a row of {_size(widest)}, more than a merge reads "
                                     f"({_size(limits.row_bytes)})")
            total += size or 0
            if total > limits.total_bytes:
                raise _refused(path, f"the tables hold more than a merge reads ({_size(limits.total_bytes)})")
            cur = conn.execute(f'SELECT rowid, {", ".join(chr(34) + c + chr(34) for c in read)} '
                               f'FROM "{table.name}" ORDER BY rowid')
            rows[table.name] = [
                {ROW_KEY: r[0], **table.older, **dict(zip(read, r[1:]))} for r in cur]
        return rows
    except MemoryError:
        rows.clear()
        raise _refused(path, f"{reading} does not fit in this machine's memory") from None
    except sqlite3.DataError as exc:  # SQLite's own limit on one value
        raise _refused(path, f"{reading} holds a value over {_size(limits.value_bytes)}, more than a merge reads "
                             f"({exc})") from None
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise _refused(path, f"reading {reading} took longer than {limits.seconds:g} s") from None
        raise _refused(path, f"cannot read {reading} ({exc})") from None
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc):
            raise _refused(path, f"the database is damaged (truncated or corrupt: {exc})") from None
        raise _refused(path, f"cannot read {reading} ({exc})") from None
    finally:
        conn.close()


def _size(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _refused(path: Path, problem: str) -> AnnotatorError:
    return AnnotatorError(f"{shown(path)}: {problem}; nothing was merged")


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Another project's database, opened read-only (a merge never changes the other side)."""
    if not path.is_file():
        raise AnnotatorError(f"{shown(path)}: no such database file")
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise AnnotatorError(f"{shown(path)}: cannot open database ({exc})") from None


def _table_columns(conn: sqlite3.Connection, path: Path) -> dict[str, set[str]]:
    """The columns of each table a merge reads, after checking that each is a plain table
    (SQLite's names are case-blind: ``Split_Sides`` is ``split_sides``)."""
    kinds = {name.lower(): kind for name, kind in conn.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')")}
    missing = [t.name for t in OTHER_TABLES if not t.optional and t.name not in kinds]
    if missing:
        raise AnnotatorError(f"{shown(path)}: not an annotator project (no {', '.join(missing)} table)")
    columns = {}
    for table in OTHER_TABLES:
        if table.name not in kinds:
            continue
        if kinds[table.name] == "table":  # a virtual table, or one without rowid, is listed as a table too
            kind, without_rowid = _table_kind(conn, table.name)
        else:
            kind, without_rowid = kinds[table.name], 0
        if kind != "table" or without_rowid:
            what = {"table": "a table without rowid", "view": "a view", "virtual": "a virtual table"}.get(kind, kind)
            raise _refused(path, f"{table.name} is {what}, not a table as annotator makes it")
        # hidden: 0 a plain column, 1 a virtual table's, 2 and 3 computed (generated) ones
        have = {name.lower(): hidden for name, hidden in conn.execute(
            "SELECT name, hidden FROM pragma_table_xinfo(?)", [table.name])}
        for column in table.columns:
            if column not in have and column not in table.older:
                raise _refused(path, f"table {table.name} has no column {column} (not a table as annotator "
                                     "makes it)")
            if have.get(column, 0) != 0:
                raise _refused(path, f"column {column} of table {table.name} is computed, not stored")
        columns[table.name] = {c for c in table.columns if c in have}
    return columns


def _table_kind(conn: sqlite3.Connection, name: str) -> tuple[str, int]:
    """What SQLite says a table of the main schema is (``table``, ``virtual``…) and whether it is
    WITHOUT ROWID: from ``pragma_table_list`` (SQLite 3.37 and newer), else from its CREATE
    statement (an older SQLite, as some systems' Pythons have)."""
    try:
        row = conn.execute("SELECT type, wr FROM pragma_table_list(?) WHERE schema = 'main'", [name]).fetchone()
        return row[0], row[1]
    except sqlite3.OperationalError as exc:
        if "pragma_table_list" not in str(exc):
            raise
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone()[0] or ""
    words = " ".join(sql.upper().split())
    kind = "virtual" if words.startswith("CREATE VIRTUAL TABLE") else "table"
    body_end = words.rfind(")")
    return kind, int("WITHOUT ROWID" in words[body_end:])


def _check_intact(conn: sqlite3.Connection, path: Path) -> None:
    """Fail with one line if SQLite finds the file damaged (a truncated copy, a half-written
    download): such a file reads without error page by page and would merge half its rows."""
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        problem = str(problems[0]).replace("*** in database main ***", "").strip().splitlines()[0]
        raise _refused(path, f"the database is damaged (truncated or corrupt: {shown(problem)})")


def record_conflict(store: Store, tables: DecisionTables, uid: str, conflict: Any) -> bool:
    """Keep a merge conflict; False if this very conflict was recorded by an earlier merge."""
    cur = store.db.execute(
        f"INSERT OR IGNORE INTO {tables.conflicts} (uid, {tables.item}, annotator, ours, theirs, kept, source, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        [uid, conflict.item_id, conflict.annotator, conflict.ours.to_json(), conflict.theirs.to_json(),
         conflict.kept, conflict.source])
    return cur.rowcount > 0


# Our side ---------------------------------------------------------------------------------

def speech_ids_by_hash(store: Store) -> dict[str, int]:
    return {h: i for h, i in store.db.execute("SELECT content_hash, id FROM speeches").fetchall()}


def segments_by_uid(store: Store) -> dict[str, tuple[int, str]]:
    return {u: (i, t) for u, i, t in store.db.execute("SELECT uid, id, text FROM segments").fetchall()}


def insert_speech(store: Store, row: dict[str, Any]) -> int:
    cols = [c for c in SPEECH_COLUMNS if c in row]
    cur = store.db.execute(
        f"INSERT INTO speeches ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [row[c] for c in cols])
    return int(cur.lastrowid)


def insert_segment(store: Store, row: dict[str, Any], speech_id: int) -> int:
    cur = store.db.execute(
        'INSERT INTO segments (uid, speech_id, position, start, "end", text, language) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [row["uid"], speech_id, row["position"], row["start"], row["end"], row["text"], row["language"]])
    return int(cur.lastrowid)


def translation(store: Store, segment_id: int, target_lang: str, provenance: str, model: str) -> dict[str, Any] | None:
    return first(store.db,
                 "SELECT text, created_at FROM translations WHERE segment_id = ? AND target_lang = ? "
                 "AND provenance = ? AND model = ?", [segment_id, target_lang, provenance, model])


def put_translation(store: Store, row: dict[str, Any], segment_id: int) -> None:
    store.db.execute(
        "INSERT INTO translations (segment_id, target_lang, text, provenance, model, alignment, score, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (segment_id, target_lang, provenance, model) DO UPDATE SET "
        "text = excluded.text, alignment = excluded.alignment, score = excluded.score, created_at = excluded.created_at",
        [segment_id, row["target_lang"], row["text"], row["provenance"], row["model"], row.get("alignment", ""),
         row.get("score"), row["created_at"]])


def insert_speech_translation(store: Store, row: dict[str, Any], speech_id: int) -> None:
    store.db.execute(
        "INSERT OR IGNORE INTO speech_translations (speech_id, target_lang, text, source, aligned_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [speech_id, row["target_lang"], row["text"], row["source"], row["aligned_by"], row["created_at"]])


def glossary_renderings(store: Store) -> dict[tuple[str, str], str]:
    """Each (phrase, language) of our glossary and its official rendering."""
    return {(t, lang): r for t, lang, r in store.db.execute(
        "SELECT source_text, language, rendering FROM glossary").fetchall()}


def insert_glossary(store: Store, row: dict[str, Any]) -> bool:
    cur = store.db.execute(
        "INSERT OR IGNORE INTO glossary (source_text, language, rendering, note, source, variants) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [row["source_text"], row["language"], row["rendering"], row["note"], row["source"], row["variants"]])
    return cur.rowcount > 0


def history_uids(store: Store, tables: DecisionTables) -> set[str]:
    return {r[0] for r in store.db.execute(f"SELECT uid FROM {tables.history}").fetchall()}


def insert_history(store: Store, tables: DecisionTables, row: dict[str, Any], item: int) -> bool:
    cur = store.db.execute(
        f"INSERT OR IGNORE INTO {tables.history} (uid, {tables.item}, annotator, action, ref_uid, state, before, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [row["uid"], item, row["annotator"], row["action"], row["ref_uid"], row["state"], row["before"],
         row["created_at"]])
    return cur.rowcount > 0


def decision_row(store: Store, tables: DecisionTables, item: int, annotator: str) -> dict[str, Any] | None:
    """Our current decision's row on a segment or speech, or ``None``."""
    return first(store.db, f"SELECT * FROM {tables.decisions} WHERE {tables.item} = ? AND annotator = ?",
                 [item, annotator])


def put_decision(store: Store, tables: DecisionTables, row: dict[str, Any], item: int) -> None:
    """Insert or overwrite a current decision, keeping its own timestamps."""
    columns = ["frames", "spans", "status"] if tables.spans else ["frames", "status"]
    store.db.execute(
        f"INSERT INTO {tables.decisions} ({tables.item}, annotator, {', '.join(columns)}, created_at, updated_at) "
        f"VALUES (?, ?, {', '.join('?' * len(columns))}, ?, ?) ON CONFLICT ({tables.item}, annotator) DO UPDATE SET "
        + "".join(f"{c} = excluded.{c}, " for c in columns) + "updated_at = excluded.updated_at",
        [item, row["annotator"], *(row[c] for c in columns), row["created_at"], row["updated_at"]])


def insert_assignment(store: Store, segment_id: int, annotator: str, created_at: str) -> bool:
    cur = store.db.execute(
        "INSERT OR IGNORE INTO assignments (segment_id, annotator, created_at) VALUES (?, ?, ?)",
        [segment_id, annotator, created_at])
    return cur.rowcount > 0


def unlabelled_segments(store: Store) -> list[tuple[int, int, int]]:
    """(segment id, speech id, position) of segments no person has decided on (pre-annotations,
    such as the seed labels, are no one's decision) and nobody has been assigned."""
    return [tuple(r) for r in store.db.execute(
        "SELECT s.id, s.speech_id, s.position FROM segments s "
        "WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.segment_id = s.id "
        "AND a.annotator NOT IN (SELECT annotator FROM prior_annotators)) "
        "AND NOT EXISTS (SELECT 1 FROM assignments x WHERE x.segment_id = s.id) "
        "ORDER BY s.speech_id, s.position").fetchall()]


def segment_languages(store: Store) -> dict[int, str]:
    return {i: lang or "" for i, lang in store.db.execute("SELECT id, language FROM segments").fetchall()}

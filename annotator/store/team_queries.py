"""SQL for team work (merging project databases, reading decisions in bulk).

Kept apart from the store's aggregates so the team code owns its queries; every function takes
a :class:`Store` (ours) or another project's database, opened read-only by
:func:`open_read_only`. Both are read through sqlite-utils' public ``Database.query``.
Callers wrap the writes in ``store.write()`` so a whole merge is one transaction.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from annotator.errors import AnnotatorError, shown
from annotator.store.annotations import annotation_row as current_annotation_row
from annotator.store.base import first
from annotator.store.db import check_is_database
from annotator.store.store import Store

SPEECH_COLUMNS = ("content_hash", "external_id", "title", "speaker", "date", "venue", "language", "source",
                  "licence", "text", "imported_at")
REQUIRED_TABLES = ("speeches", "segments", "annotations", "annotation_history", "translations", "glossary")


def open_read_only(path: str | Path) -> Database:
    """Another project's database, opened read-only (a merge never changes the other side)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotatorError(f"{shown(path)}: no such database file")
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise AnnotatorError(f"{shown(path)}: cannot open database ({exc})") from None
    check_is_database(conn, path)  # asks SQLite: the file is never opened outside it
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "malformed" in str(exc):
            raise AnnotatorError(f"{shown(path)}: the database is damaged (truncated or corrupt: {exc})") from None
        raise AnnotatorError(f"{shown(path)}: cannot read the database ({exc})") from None
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        conn.close()
        raise AnnotatorError(f"{shown(path)}: not an annotator project (no {', '.join(missing)} table)")
    return Database(conn)


def check_intact(other: Database, path: str | Path) -> None:
    """Fail with one line if SQLite finds the file damaged (a truncated copy, a half-written
    download): such a file reads without error page by page and would merge half its rows."""
    try:
        problems = [r[0] for r in other.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        raise AnnotatorError(f"{shown(path)}: the database is damaged ({exc}); nothing was merged") from None
    if problems != ["ok"]:
        problem = problems[0].replace("*** in database main ***", "").strip().splitlines()[0]
        raise AnnotatorError(f"{shown(path)}: the database is damaged (truncated or corrupt: {problem}); "
                             "nothing was merged")


def record_conflict(store: Store, uid: str, conflict: Any) -> bool:
    """Keep a merge conflict; False if this very conflict was recorded by an earlier merge."""
    cur = store.db.execute(
        "INSERT OR IGNORE INTO merge_conflicts (uid, segment_id, annotator, ours, theirs, kept, source, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        [uid, conflict.segment_id, conflict.annotator, conflict.ours.to_json(), conflict.theirs.to_json(),
         conflict.kept, conflict.source])
    return cur.rowcount > 0


# Reading the other side -------------------------------------------------------------------

def other_speeches(other: Database) -> list[dict[str, Any]]:
    return list(other.query("SELECT * FROM speeches ORDER BY id"))


def other_segments(other: Database) -> list[dict[str, Any]]:
    return list(other.query('SELECT id, uid, speech_id, position, start, "end", text, language FROM segments '
                            "ORDER BY id"))


def other_translations(other: Database) -> list[dict[str, Any]]:
    # (``SELECT *``: a project of an older version has no alignment and score columns)
    return list(other.query("SELECT * FROM translations ORDER BY id"))


def other_speech_translations(other: Database) -> list[dict[str, Any]]:
    """A corpus's whole-speech translations (none in a project of an older version)."""
    if "speech_translations" not in other.table_names():
        return []
    return list(other.query("SELECT * FROM speech_translations ORDER BY speech_id, target_lang"))


def insert_speech_translation(store: Store, row: dict[str, Any], speech_id: int) -> None:
    store.db.execute(
        "INSERT OR IGNORE INTO speech_translations (speech_id, target_lang, text, source, aligned_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [speech_id, row["target_lang"], row["text"], row["source"], row["aligned_by"], row["created_at"]])


def other_glossary(other: Database) -> list[dict[str, Any]]:
    # a project from before the glossary had variants (schema step 11) has none to give
    variants = "variants" if "variants" in other["glossary"].columns_dict else "'' AS variants"
    return list(other.query(f"SELECT source_text, language, rendering, note, source, {variants} FROM glossary ORDER BY id"))


def other_annotations(other: Database) -> list[dict[str, Any]]:
    return list(other.query("SELECT * FROM annotations ORDER BY segment_id, annotator"))


def other_history(other: Database) -> list[dict[str, Any]]:
    return list(other.query("SELECT uid, segment_id, annotator, action, ref_uid, state, before, created_at "
                            "FROM annotation_history ORDER BY id"))


def other_assignments(other: Database) -> list[dict[str, Any]]:
    if not other["assignments"].exists():  # a project from before schema step 2
        return []
    return list(other.query("SELECT segment_id, annotator, created_at FROM assignments"))


def other_split_sides(other: Database) -> dict[str, str]:
    """The other project's train/dev/test side of each speech (none before schema step 7)."""
    if not other["split_sides"].exists():
        return {}
    return {r["speech_hash"]: r["side"] for r in other.query("SELECT speech_hash, side FROM split_sides")}


def other_priors(other: Database) -> set[str]:
    """The names whose decisions are pre-annotations in the other project (before schema step
    14 that was the seed labels' name alone, as the step records it)."""
    if not other["prior_annotators"].exists():
        return {"seed"}
    return {r["annotator"] for r in other.query("SELECT annotator FROM prior_annotators")}


def other_has_decisions(other: Database, annotator: str) -> bool:
    """Whether ``annotator`` decided anything in the other project (a segment, or a whole speech)."""
    tables = [t for t in ("annotations", "speech_annotations") if other[t].exists()]
    return any(other.execute(f"SELECT 1 FROM {t} WHERE annotator = ? LIMIT 1", [annotator]).fetchone()
               for t in tables)


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


def insert_glossary(store: Store, row: dict[str, Any]) -> bool:
    cur = store.db.execute(
        "INSERT OR IGNORE INTO glossary (source_text, language, rendering, note, source, variants) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [row["source_text"], row["language"], row["rendering"], row["note"], row["source"], row["variants"]])
    return cur.rowcount > 0


def history_uids(store: Store) -> set[str]:
    return {r[0] for r in store.db.execute("SELECT uid FROM annotation_history").fetchall()}


def insert_history(store: Store, row: dict[str, Any], segment_id: int) -> bool:
    cur = store.db.execute(
        "INSERT OR IGNORE INTO annotation_history (uid, segment_id, annotator, action, ref_uid, state, before, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [row["uid"], segment_id, row["annotator"], row["action"], row["ref_uid"], row["state"], row["before"],
         row["created_at"]])
    return cur.rowcount > 0


def annotation_row(store: Store, segment_id: int, annotator: str) -> dict[str, Any] | None:
    return current_annotation_row(store.db, segment_id, annotator)


def put_annotation(store: Store, row: dict[str, Any], segment_id: int) -> None:
    """Insert or overwrite a current decision, keeping its own timestamps."""
    store.db.execute(
        "INSERT INTO annotations (segment_id, annotator, frames, spans, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (segment_id, annotator) DO UPDATE SET frames = excluded.frames, "
        "spans = excluded.spans, status = excluded.status, updated_at = excluded.updated_at",
        [segment_id, row["annotator"], row["frames"], row["spans"], row["status"], row["created_at"], row["updated_at"]])


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

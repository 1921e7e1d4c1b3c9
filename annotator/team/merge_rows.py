"""Checking every row of another project before a merge copies any of it.

A colleague's database may come from another version, be damaged, or be crafted. Each row a
merge would copy must hold what annotator itself writes there: whole numbers where it keeps
ids and offsets, text where it keeps text, times that read as times where the merge compares
them (the later decision or translation wins), rows that point at rows of the same file, and
decisions that pass the very checks a decision made in the screen passes
(:func:`annotator.store.decision_log.state_problem`: a known status, frames as names, spans
within their segment's text). One bad row refuses the whole file, naming the table and row
(``other.db: annotations row 7: frames is not a list of names``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError, shown
from annotator.splits import SPLIT_NAMES
from annotator.store.decision_log import HISTORY_ACTIONS, state_problem
from annotator.store.records import AnnotationState, parse_state, parse_state_json
from annotator.store.schema import TRANSLATION_PROVENANCES
from annotator.store.team_queries import ROW_KEY
from annotator.text import name_problem

_QUOTED = 60  # characters of a bad value a message quotes


class BadRow(ValueError):
    """What is wrong with one row."""


def check_rows(other: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Refuse (one line, naming the row) a file with any row a merge must not copy."""
    table = ""
    row: dict[str, Any] = {}
    seen: dict[tuple[str, ...], set[tuple[Any, ...]]] = {}
    try:
        speeches: dict[int, str] = {}  # id -> text
        for table, row in _rows(other, "speeches"):
            _unique(speeches, _int(row, "id"), "id")
            _once(seen, table, row, "content_hash")
            _text(row, "content_hash", empty=False)
            speeches[row["id"]] = _text(row, "text")
            for column in ("external_id", "title", "speaker", "date", "venue", "language", "source", "licence"):
                _text(row, column, null=True)
            _text(row, "imported_at")
        segments: dict[int, int] = {}  # id -> length of its text
        for table, row in _rows(other, "segments"):
            _unique(segments, _int(row, "id"), "id")
            _text(row, "uid", empty=False)
            _once(seen, table, row, "uid")
            _ref(row, "speech_id", speeches)
            _int(row, "position")
            if not 0 <= _int(row, "start") <= _int(row, "end"):
                raise BadRow(f"offsets {row['start']}-{row['end']} are not a stretch of text")
            segments[row["id"]] = len(_text(row, "text"))
            _text(row, "language", null=True)
        for table, row in _rows(other, "translations"):
            _ref(row, "segment_id", segments)
            _texts(row, "target_lang", "text", "model", "alignment")
            _one_of(row, "provenance", TRANSLATION_PROVENANCES)
            score = row["score"]
            if score is not None and (type(score) not in (int, float) or not math.isfinite(score)):
                raise BadRow(f"score is not a number: {_quote(score)}")
            _time(row, "created_at")
        for table, row in _rows(other, "speech_translations"):
            _ref(row, "speech_id", speeches)
            _texts(row, "target_lang", "text", "source", "aligned_by", "created_at")
        for table, row in _rows(other, "glossary"):
            _text(row, "source_text", empty=False)
            _text(row, "rendering", empty=False)
            _texts(row, "language", "note", "source", "variants")
            _once(seen, table, row, "source_text", "language")
        for kind, items, lengths in (("annotation", segments, segments), ("speech_annotation", speeches, None)):
            item = "segment_id" if kind == "annotation" else "speech_id"
            spans = kind == "annotation"
            for table, row in _rows(other, f"{kind}s"):
                _ref(row, item, items)
                _name(row, "annotator")
                state = parse_state(row["frames"], row["spans"] if spans else "[]", row["status"])
                _decision(state, spans, lengths[row[item]] if lengths else None)
                _time(row, "created_at")
                _time(row, "updated_at")
                _once(seen, table, row, item, "annotator")
            for table, row in _rows(other, f"{kind}_history"):
                _text(row, "uid", empty=False)
                _once(seen, table, row, "uid")
                _ref(row, item, items)
                _name(row, "annotator")
                _one_of(row, "action", HISTORY_ACTIONS)
                _text(row, "ref_uid", null=True)
                for column in ("state", "before"):
                    state = parse_state_json(row[column], column)
                    if state is not None:
                        _decision(state, spans, lengths[row[item]] if lengths else None, column)
                _text(row, "created_at")
        for table, row in _rows(other, "assignments"):
            _ref(row, "segment_id", segments)
            _name(row, "annotator")
            _text(row, "created_at")
        for table, row in _rows(other, "split_sides"):
            _text(row, "speech_hash", empty=False)
            _one_of(row, "side", SPLIT_NAMES)
            _once(seen, table, row, "speech_hash")
        for table, row in _rows(other, "prior_annotators"):
            _name(row, "annotator")
            _once(seen, table, row, "annotator")
    except ValueError as exc:  # a BadRow, or a decision that does not parse
        key = row.get(ROW_KEY)
        where = f"{table} row {key if type(key) is int else _quote(key)}: " if table else ""
        raise AnnotatorError(f"{shown(path)}: {where}{exc}; nothing was merged") from None


def _rows(other: dict[str, list[dict[str, Any]]], table: str) -> Iterable[tuple[str, dict[str, Any]]]:
    for row in other.get(table, []):
        yield table, row


def _once(seen: dict[tuple[str, ...], set[tuple[Any, ...]]], table: str, row: dict[str, Any], *key: str) -> None:
    """``key`` names one row of its table, as in annotator's own tables (UNIQUE there)."""
    values = seen.setdefault((table, *key), set())
    value = tuple(row[k] for k in key)
    if value in values:
        raise BadRow(f"{', '.join(key)} {_quote(value if len(key) > 1 else value[0])} is there twice")
    values.add(value)


def _decision(state: AnnotationState, spans: bool, text_length: int | None, what: str = "") -> None:
    problem = state_problem(state, spans, text_length)
    if problem:
        raise BadRow(f"{what}: {problem}" if what else problem)


def _int(row: dict[str, Any], column: str) -> int:
    value = row[column]
    if type(value) is not int:
        raise BadRow(f"{column} is not a whole number: {_quote(value)}")
    return value


def _text(row: dict[str, Any], column: str, null: bool = False, empty: bool = True) -> str:
    value = row[column]
    if value is None and null:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{column} is not text: {_quote(value)}")
    if not empty and not value.strip():
        raise BadRow(f"{column} is empty")
    return value


def _name(row: dict[str, Any], column: str) -> None:
    """An annotator's name, held to the rule ``--annotator`` is (no NUL, control or bidi
    characters: it is shown in the screen, the exports and the agreement tables)."""
    problem = name_problem(_text(row, column))
    if problem:
        raise BadRow(f"{column} {_quote(row[column])} {problem}")


def _texts(row: dict[str, Any], *columns: str) -> None:
    for column in columns:
        _text(row, column)


def _time(row: dict[str, Any], column: str) -> None:
    try:
        datetime.fromisoformat(_text(row, column))
    except ValueError:
        raise BadRow(f"{column} is not a time: {_quote(row[column])}") from None


def _one_of(row: dict[str, Any], column: str, allowed: tuple[str, ...]) -> None:
    if row[column] not in allowed:
        raise BadRow(f"{column} {_quote(row[column])} is not one of {', '.join(allowed)}")


def _ref(row: dict[str, Any], column: str, ids: dict[int, Any]) -> None:
    if _int(row, column) not in ids:
        raise BadRow(f"{column} {row[column]} names no {column.removesuffix('_id')} in the file")


def _unique(seen: dict[int, Any], value: int, column: str) -> None:
    if value in seen:
        raise BadRow(f"{column} {value} is there twice")


def _quote(value: Any) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes of binary data"
    text = repr(value)
    return text if len(text) <= _QUOTED else text[:_QUOTED] + "…"


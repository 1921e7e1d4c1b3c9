"""Reading speech files into records, with errors that name the file, the line and the problem.

Formats (``--format auto`` picks by name and content):

* ``text`` / ``markdown``: one speech per file, optionally opening with a YAML front-matter block
  (``---`` … ``---``) of metadata: title, speaker, date, venue, language, source, licence, id.
* ``jsonl``: one speech per line, an object with a ``text`` field and optional metadata fields.
* ``csv``: one speech per row, with a ``text`` column and optional metadata columns.
* ``parlamint``: ParlaMint sample ``.txt`` files, ``utterance-id<TAB>text`` per line; each
  utterance is a speech. A sibling ``ParlaMint-XX-en_…`` file gives English translations.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.errors import InputError
from annotator.inputs import decode_utf8, file_problem, parse_json, parse_yaml, read_input_bytes

FORMATS = ("auto", "text", "markdown", "jsonl", "csv", "parlamint")
METADATA_FIELDS = ("id", "title", "speaker", "date", "venue", "language", "source", "licence")
MAX_RECORD_CHARS = 5_000_000  # one speech; a longer "line" is a broken or wrong file
SKIP_NAMES = {"SOURCES.md", "README.md", "LICENSE", "LICENCE", "NOTICE"}
PARLAMINT_NAME = re.compile(r"^(ParlaMint-[A-Z]{2}(?:-[A-Z]{2})?)(-en)?_(.+)\.txt$")
# ParlaMint corpora by country code → the language of their originals (lingua, for one, has no
# Galician and would call it Spanish).
PARLAMINT_LANGUAGE = {
    "AT": "de", "BA": "bs", "BE": "nl", "BG": "bg", "CZ": "cs", "DK": "da", "EE": "et", "ES": "es",
    "ES-CT": "ca", "ES-GA": "gl", "ES-PV": "eu", "FI": "fi", "FR": "fr", "GB": "en", "GR": "el",
    "HR": "hr", "HU": "hu", "IL": "he", "IS": "is", "IT": "it", "LT": "lt", "LV": "lv", "NL": "nl",
    "NO": "no", "PL": "pl", "PT": "pt", "RO": "ro", "RS": "sr", "SE": "sv", "SI": "sl", "TR": "tr", "UA": "uk",
}
PARLAMINT_LICENCE = "CC BY 4.0 (ParlaMint, CLARIN, http://hdl.handle.net/11356/1864)"


@dataclass
class RawSpeech:
    """One speech as read from a file, before segmentation."""

    text: str
    path: str
    line: int | None
    meta: dict[str, str] = field(default_factory=dict)
    # English translation of the whole speech shipped by the corpus (ParlaMint -en files).
    translation: str | None = None
    translation_source: str = ""


def read_text_file(path: Path) -> str:
    """Read a UTF-8 speech file (a regular file, at most :data:`~annotator.inputs.MAX_INPUT_BYTES`:
    see :func:`annotator.inputs.read_input`), or fail with the file, line and byte that are wrong."""
    data = read_input_bytes(path)
    if not data.strip():
        raise InputError(path, "empty file")
    if b"\x00" in data[:8192]:
        raise InputError(path, "binary file (contains NUL bytes); expected UTF-8 text")
    return decode_utf8(data, path).replace("\r\n", "\n").replace("\r", "\n")


def _check_size(text: str, path: Path, line: int | None) -> None:
    if len(text) > MAX_RECORD_CHARS:
        raise InputError(
            path,
            f"a single record of {len(text):,} characters; the limit is {MAX_RECORD_CHARS:,} "
            "(split the speech, or check that this is the right file)",
            line,
        )


# Characters a speech cannot hold: NUL (SQLite's string functions stop at it, so search,
# substr and the UI would show a cut text) and lone surrogates (not characters; SQLite cannot
# even store them as UTF-8). JSON and YAML escapes ("\u0000", "\ud800") produce both.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_storable(value: str, path: Path, line: int | None, field: str, counts_lines: bool = False) -> None:
    """Refuse ``value`` (the ``field`` of a record at ``line``) if it holds a character a speech
    cannot hold, naming the line and the character's position. ``counts_lines``: the value is
    the file's own text from ``line`` on, so the line of the character itself is given."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return
    char, at = found.group(), found.start()
    if counts_lines and line is not None:
        line += value.count("\n", 0, at)
        column = at - (value.rfind("\n", 0, at) + 1) + 1
        where = f"column {column}"
    else:
        where = f"character {at + 1} of '{field}'"
    what = ("a NUL character (U+0000); SQLite would cut the text there" if char == "\x00" else
            f"a lone surrogate (U+{ord(char):04X}), which is not a character (a broken \\u escape?)")
    raise InputError(path, f"{what}, at {where}; remove it and import again", line)


def _key_line(front_matter: str, key: str) -> int:
    """The file line of ``key:`` in front matter that starts on line 2."""
    match = re.search(rf"^[ \t]*['\"]?{re.escape(key)}['\"]?[ \t]*:", front_matter, re.M)
    return 2 + front_matter.count("\n", 0, match.start()) if match else 2


def _clean_meta(raw: dict[str, Any], path: Path, line: int | None) -> dict[str, str]:
    meta: dict[str, str] = {}
    for key in METADATA_FIELDS:
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            raise InputError(path, f"field '{key}' must be text, not {type(value).__name__}", line)
        meta[key] = str(value).strip()
    return meta


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or suffix == ".ndjson":
        return "jsonl"
    if suffix == ".csv" or suffix == ".tsv":
        return "csv"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if PARLAMINT_NAME.match(path.name):
        return "parlamint"
    return "text"


def read_plain(path: Path) -> list[RawSpeech]:
    text = read_text_file(path)
    meta: dict[str, str] = {}
    body_line = 1
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end == -1:
            raise InputError(path, "front matter opened with '---' is never closed", 1)
        raw = parse_yaml(text[4:end], path, 2, "front matter") or {}
        if not isinstance(raw, dict):
            raise InputError(path, "front matter must be 'key: value' lines", 2)
        meta = _clean_meta(raw, path, 2)
        for key, value in meta.items():
            check_storable(value, path, _key_line(text[4:end], key), key)
        after = text.find("\n", end + 4)
        body_line = text.count("\n", 0, after) + 2 if after != -1 else 1
        text = text[after + 1:] if after != -1 else ""
    if not text.strip():
        raise InputError(path, "no speech text after the front matter", body_line)
    _check_size(text, path, body_line if "\n" in text else 1)
    check_storable(text, path, body_line, "text", counts_lines=True)
    meta.setdefault("title", path.stem)
    return [RawSpeech(text=text, path=str(path), line=None, meta=meta)]


def read_jsonl(path: Path) -> list[RawSpeech]:
    text = read_text_file(path)
    out: list[RawSpeech] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        _check_size(line, path, number)
        record = parse_json(line, path, number)
        if not isinstance(record, dict):
            raise InputError(path, "each line must be a JSON object with a 'text' field", number)
        body = record.get("text", record.get("content"))
        if not isinstance(body, str) or not body.strip():
            raise InputError(path, "missing or empty 'text' field", number)
        meta = _clean_meta(record, path, number)
        for key, value in (("text", body), *meta.items()):
            check_storable(value, path, number, key)
        meta.setdefault("title", f"{path.stem} #{number}")
        out.append(RawSpeech(text=body, path=str(path), line=number, meta=meta))
    if not out:
        raise InputError(path, "no records")
    return out


def read_csv(path: Path) -> list[RawSpeech]:
    text = read_text_file(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(MAX_RECORD_CHARS + 1)
    # strict: a quote opened and never closed is an error, not a field that runs to the end of the file
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise InputError(path, f"unreadable CSV header ({csv_problem(exc)})", 1) from None
    text_col = next((c for c in columns if c and c.strip().lower() in ("text", "content")), None)
    if text_col is None:
        raise InputError(path, f"no 'text' column (columns are: {', '.join(c for c in columns if c) or 'none'})", 1)
    out: list[RawSpeech] = []
    start = reader.line_num + 1  # where the next record starts
    try:
        for row in reader:
            number = reader.line_num
            if None in row:
                raise InputError(path, f"more fields than the {len(columns)} columns of the header", number)
            body = row.get(text_col) or ""
            if not body.strip():
                raise InputError(path, f"empty '{text_col}' value", number)
            _check_size(body, path, number)
            meta = _clean_meta({k.strip().lower(): v for k, v in row.items() if k and v}, path, number)
            for key, value in ((text_col, body), *meta.items()):
                check_storable(value, path, number, key)
            meta.setdefault("title", f"{path.stem} #{number}")
            out.append(RawSpeech(text=body, path=str(path), line=number, meta=meta))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(path, f"malformed CSV ({csv_problem(exc)})", start) from None
    if not out:
        raise InputError(path, "no rows")
    return out


def csv_problem(exc: csv.Error) -> str:
    """What the csv module's error means, in words ("unexpected end of data": a quote opened
    on the record's line is never closed)."""
    if "unexpected end of data" in str(exc):
        return "a quoted field opened in this record is never closed: a missing '\"'"
    return str(exc)


def _parlamint_lines(path: Path) -> list[tuple[int, str, str]]:
    text = read_text_file(path)
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise InputError(path, "expected 'utterance-id<TAB>text' (ParlaMint sample format)", number)
        uid, body = line.split("\t", 1)
        _check_size(body, path, number)
        if not body.strip():
            raise InputError(path, f"utterance {uid} has no text", number)
        check_storable(line, path, number, "text", counts_lines=True)
        rows.append((number, uid.strip(), body))
    if not rows:
        raise InputError(path, "no utterances")
    return rows


def _utterance_key(uid: str) -> str:
    # ParlaMint-IT English ids carry an extra ".ana" (…sed-462.ana.u1 vs …sed-462.u1).
    return uid.replace(".ana.", ".")


def parlamint_translation_file(path: Path) -> Path | None:
    m = PARLAMINT_NAME.match(path.name)
    if not m or m.group(2):
        return None
    sibling = path.with_name(f"{m.group(1)}-en_{m.group(3)}.txt")
    return sibling if sibling.exists() else None


def _english_by_utterance(rows: list[tuple[int, str, str]], en_rows: list[tuple[int, str, str]]) -> dict[str, str]:
    """The English text of each utterance, by its id. Where a sample's two files list as many
    utterances and one id differs at the same place (ES-CT's ``…0901.2.0`` is ``…0901.72.0`` in
    its English file, from another version of the sample), the line's place pairs them."""
    english = {_utterance_key(uid): body for _, uid, body in en_rows}
    if len(rows) == len(en_rows):
        ours = {_utterance_key(uid) for _, uid, _ in rows}
        for (_, uid, _), (_, en_uid, body) in zip(rows, en_rows):
            if _utterance_key(uid) not in english and _utterance_key(en_uid) not in ours:
                english[_utterance_key(uid)] = body
    return english


def read_parlamint(path: Path) -> list[RawSpeech]:
    m = PARLAMINT_NAME.match(path.name)
    corpus = m.group(1) if m else "ParlaMint"
    date = m.group(3)[:10] if m and re.match(r"\d{4}-\d{2}-\d{2}", m.group(3)) else ""
    english: dict[str, str] = {}
    en_path = parlamint_translation_file(path)
    rows = _parlamint_lines(path)
    if en_path is not None:
        english = _english_by_utterance(rows, _parlamint_lines(en_path))
    out = []
    for number, uid, body in rows:
        meta = {
            "id": uid, "title": f"{corpus} {m.group(3) if m else path.stem} {uid.rsplit('.', 1)[-1]}",
            "date": date, "venue": f"{corpus} (parliamentary debate)",
            "source": f"{corpus}: {path.name}#{uid}", "licence": PARLAMINT_LICENCE,
        }
        if m and m.group(2):
            meta["language"] = "en"
        elif m and m.group(1)[len("ParlaMint-"):] in PARLAMINT_LANGUAGE:
            meta["language"] = PARLAMINT_LANGUAGE[m.group(1)[len("ParlaMint-"):]]
        out.append(RawSpeech(
            text=body, path=str(path), line=number, meta=meta,
            translation=english.get(_utterance_key(uid)),
            translation_source=f"{en_path.name} (ParlaMint machine translation)" if en_path else "",
        ))
    return out


READERS = {"text": read_plain, "markdown": read_plain, "jsonl": read_jsonl, "csv": read_csv,
           "parlamint": read_parlamint}


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files to import: the given files, and the speech files under given folders.

    A ParlaMint ``-en_`` file is read together with its original, not as a speech of its own.
    """
    files: list[Path] = []
    for p in paths:
        if not os.path.lexists(p):
            raise InputError(p, "no such file or folder")
        if p.is_dir():
            files += sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in (".txt", ".md", ".markdown", ".jsonl", ".ndjson", ".csv", ".tsv")
                and f.name not in SKIP_NAMES and not f.name.endswith("-labels.jsonl")
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        else:
            problem = file_problem(p)  # a link loop, a FIFO, a device: refused before anything is read
            if problem is not None:
                raise problem
            files.append(p)
    chosen = set(files)
    out = []
    for f in files:
        m = PARLAMINT_NAME.match(f.name)
        if m and m.group(2):
            original = f.with_name(f"{m.group(1)}_{m.group(3)}.txt")
            if original in chosen:
                continue
        out.append(f)
    return out


def read_file(path: Path, fmt: str = "auto") -> Iterator[RawSpeech]:
    if fmt not in FORMATS:
        raise InputError(path, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    kind = detect_format(path) if fmt == "auto" else fmt
    for speech in READERS[kind](path):
        for key, value in speech.meta.items():  # titles and sources made from file names too
            check_storable(value, path, speech.line, key)
        yield speech

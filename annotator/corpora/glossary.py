"""The glossary of known formulations (Chinese *tifa* and the like) with official renderings.

The tool ships a seed glossary (``annotator/data/glossary``, see its SOURCES.md), which
``services.glossary`` brings into every project; a project adds its own entries from TSV or CSV
files with ``annotator glossary import`` (read here) or one by one in the annotation screen.

A file's first row names its columns (any order; names as in the table below, case ignored):
``phrase`` and ``rendering`` are required, ``language``, ``note``, ``source`` and ``variants``
optional (``language`` defaults to the command's ``--lang``). A file without such a row is
refused — a CSV of speeches or a word list is not a glossary — unless forced (``--force``):
then its columns are, in order, phrase, rendering, note, source, variants. A phrase too short
to be a formulation (:func:`short_phrase_problem`) is refused too, unless forced. A file is read
whole or not at all: every problem is reported as ``file:line: problem``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from annotator.corpora.languages import normalise_language, unknown_language_message
from annotator.corpora.readers import read_text_file
from annotator.errors import AnnotatorError, InputError, shown
from annotator.paths import PACKAGE_DATA
from annotator.store import GlossaryEntry
from annotator.text import HAN_CHAR, SUBSTRING_SEARCHED_CHAR

SEED_GLOSSARY = PACKAGE_DATA / "glossary" / "zh_en_political_terms.tsv"
# What earlier versions of the tool wrote in ``source`` for the seed's entries: an entry that
# still says so is the seed's, and is brought up to date with it.
FORMER_SEED_SOURCES = frozenset({SEED_GLOSSARY.name})
QUOTES = "\"'“”「」『』"
# The shortest phrase that can be a formulation: characters of a script searched by substring
# (Chinese, Japanese, Korean), or else letters and digits. See short_phrase_problem.
MIN_CJK_CHARACTERS = 2
MIN_LETTERS = 4
FIELDS = ("phrase", "language", "rendering", "note", "source", "variants")
POSITIONAL = ("phrase", "rendering", "note", "source", "variants")
COLUMN_NAMES = {
    "phrase": "phrase", "formulation": "phrase", "term": "phrase", "chinese": "phrase", "source_text": "phrase",
    "original": "phrase",
    "language": "language", "lang": "language",
    "rendering": "rendering", "english": "rendering", "official rendering": "rendering",
    "official_rendering": "rendering", "translation": "rendering",
    "note": "note", "notes": "note",
    "source": "source", "citation": "source", "reference": "source",
    "variants": "variants", "also": "variants", "other renderings": "variants",
}


class GlossaryProblems(AnnotatorError):
    """Every ``file:line: problem`` of a glossary file; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}; nothing was imported")


def clean_phrase(raw: str) -> str:
    """A phrase as it stands in the text: in Chinese, straight quotes around a part become the
    curly ones Chinese text uses (the seed's ``"一带一路"倡议`` is ``“一带一路”倡议`` in a report), and
    quotes around the whole phrase go (``"两个确立"`` is 两个确立)."""
    phrase = raw.strip()
    if HAN_CHAR.search(phrase):
        phrase = re.sub(r'"([^"]*)"', r"“\1”", phrase)
    while len(phrase) > 2 and phrase[0] in QUOTES and phrase[-1] in QUOTES and \
            not any(ch in QUOTES for ch in phrase[1:-1]):
        phrase = phrase[1:-1].strip()
    return phrase


def short_phrase_problem(phrase: str) -> str | None:
    """Why ``phrase`` is too short to be a formulation, or ``None``.

    A formulation (提法) is a fixed phrase: a compound or a set expression, 网络强国, "the
    Russian world", "Leitkultur". A phrase is found in a segment wherever its characters occur,
    inside words too, so a short one would mark countless spans that are no formulation ("a"
    is in nearly every English sentence, 党 in most Chinese ones). The rule: in a script written
    without spaces or searched by substring (Chinese, Japanese, Korean), at least
    :data:`MIN_CJK_CHARACTERS` of its letters, a word of two syllables or morphemes (两会, 국정);
    in other scripts at least :data:`MIN_LETTERS` letters or digits (NATO, "Volk", "war on
    terror"; not "a", "the", "und", "EU").
    """
    cjk = sum(1 for ch in phrase if ch.isalnum() and SUBSTRING_SEARCHED_CHAR.match(ch))
    if cjk:
        if cjk >= MIN_CJK_CHARACTERS:
            return None
        return f"has one Chinese, Japanese or Korean character; a formulation has at least {MIN_CJK_CHARACTERS}"
    letters = sum(1 for ch in phrase if ch.isalnum())
    if letters >= MIN_LETTERS:
        return None
    count = f"{letters} letter{'s' if letters != 1 else ''} or digit{'s' if letters != 1 else ''}"
    return f"has {count}; a formulation has at least {MIN_LETTERS}"


def _header(cells: list[str], path: Path) -> dict[str, int] | None:
    """Column name → index, when the row is a header: every cell a known name, or at least the
    phrase and rendering columns named (then another name is a problem of line 1, never a
    first entry "phrase" → "rendering")."""
    names = [c.strip().lower() for c in cells]
    known = {COLUMN_NAMES[n] for n in names if n in COLUMN_NAMES}
    old_layout = bool(names) and names[0] == "source" and "rendering" in known  # "source<TAB>rendering<TAB>note"
    if not names or not (all(n in COLUMN_NAMES for n in names if n) or {"phrase", "rendering"} <= known or old_layout):
        return None
    unknown = [n for n in names if n and n not in COLUMN_NAMES]
    if unknown:
        raise InputError(path, f"the header names {', '.join(map(repr, unknown))}, not a column of a glossary "
                               f"(columns: {', '.join(FIELDS)})", 1)
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        if name:
            columns.setdefault(COLUMN_NAMES[name], i)
    if "phrase" not in columns and old_layout:
        columns = {COLUMN_NAMES.get(n, n): i for i, n in enumerate(names[1:], start=1) if n}
        columns["phrase"] = 0
    return columns


def _rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """(first line number, cells) for every non-empty row: CSV by its name (.csv) or a first
    line with no tab in it, TSV otherwise (tabs only, quotes are text)."""
    first_line = text.split("\n", 1)[0]
    is_csv = path.suffix.lower() == ".csv" or ("\t" not in first_line and "," in first_line)
    lines = text.split("\n")
    if is_csv:
        reader = csv.reader(lines, strict=True)
    else:
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = []
    start = 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise GlossaryProblems([f"{shown(path)}:{start}: not a valid CSV row ({exc})"]) from None
    return rows


def read_glossary(path: Path, language: str = "zh", force: bool = False) -> list[GlossaryEntry]:
    """Every entry of a TSV or CSV glossary file, or :class:`GlossaryProblems` naming each bad
    line (a missing phrase or rendering, a language that is not a code, a phrase given twice,
    a phrase too short to be a formulation). ``force``: read a file without a header row by
    position, and take short phrases too (see the module's docstring)."""
    text = read_text_file(path)
    rows = _rows(path, text)
    columns = _header(rows[0][1], path) if rows else None
    if columns is not None:
        rows = rows[1:]
        if "phrase" not in columns or "rendering" not in columns:
            missing = " and ".join(f"'{f}'" for f in ("phrase", "rendering") if f not in columns)
            raise InputError(path, f"the header names no {missing} column (columns: {', '.join(FIELDS)})", 1)
    elif not force and rows:
        first = ", ".join(shown(c.strip()) for c in rows[0][1][:4]) + (", …" if len(rows[0][1]) > 4 else "")
        raise InputError(path, f"the first row ({first}) does not name the glossary's columns: start the file "
                               f"with a header row naming at least phrase and rendering (columns: {', '.join(FIELDS)}), "
                               f"or give --force to read the columns in order as {', '.join(POSITIONAL)}", rows[0][0])
    else:
        columns = {name: i for i, name in enumerate(POSITIONAL)}
    problems: list[str] = []
    entries: list[GlossaryEntry] = []
    seen: dict[tuple[str, str], int] = {}
    for number, cells in rows:
        value = {f: cells[i].strip() if i < len(cells) else "" for f, i in columns.items()}
        phrase = clean_phrase(value.get("phrase", ""))
        given = value.get("language") or language
        lang = normalise_language(given)  # "ZH" is zh, "zho" too
        where = f"{shown(path)}:{number}"
        if len(cells) > max(columns.values()) + 1 and any(c.strip() for c in cells[max(columns.values()) + 1:]):
            problems.append(f"{where}: {len(cells)} columns, more than the {max(columns.values()) + 1} the file names")
        elif not phrase or not value.get("rendering"):
            what = "phrase" if not phrase else "rendering"
            problems.append(f"{where}: no {what}; each line needs at least a phrase and its rendering")
        elif lang is None:
            problems.append(f"{where}: {unknown_language_message(given, 'the language')}")
        elif not force and (short := short_phrase_problem(phrase)) is not None:
            problems.append(f"{where}: the phrase {phrase!r} is too short to be a formulation (it {short}): it "
                            "would be found inside countless words; give --force to import it anyway")
        elif (phrase, lang) in seen:
            problems.append(f"{where}: {shown(phrase)} ({lang}) is also on line {seen[phrase, lang]}")
        else:
            seen[phrase, lang] = number
            entries.append(GlossaryEntry(
                source_text=phrase, language=lang, rendering=value["rendering"], note=value.get("note", ""),
                source=value.get("source") or path.name, variants=value.get("variants", "")))
    if problems:
        raise GlossaryProblems(problems)
    if not entries:
        raise InputError(path, "no glossary entries in the file")
    return entries


def read_seed_glossary() -> list[GlossaryEntry]:
    """The shipped glossary (Chinese formulations and their official English renderings)."""
    return read_glossary(SEED_GLOSSARY, "zh")

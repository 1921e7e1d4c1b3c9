"""The glossary of known formulations (Chinese *tifa* and the like) with official renderings.

The tool ships a seed glossary (``annotator/data/glossary``, see its SOURCES.md); a project adds
its own TSV files (``source<TAB>rendering<TAB>note``) with ``annotator glossary import``.
"""

from __future__ import annotations

from pathlib import Path

from annotator.corpora.readers import read_text_file
from annotator.errors import InputError
from annotator.paths import PACKAGE_DATA
from annotator.store import GlossaryEntry, Store

SEED_GLOSSARY = PACKAGE_DATA / "glossary" / "zh_en_political_terms.tsv"
QUOTES = "\"'“”「」『』"


def read_glossary_tsv(path: Path, language: str = "zh") -> list[GlossaryEntry]:
    text = read_text_file(path)
    lines = text.split("\n")
    entries = []
    start = 2 if lines and lines[0].lower().startswith(("chinese\t", "source\t", "term\t")) else 1
    for number, line in enumerate(lines[start - 1:], start=start):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise InputError(path, "expected 'formulation<TAB>rendering[<TAB>note]'", number)
        entries.append(GlossaryEntry(
            source_text=cols[0].strip().strip(QUOTES), language=language, rendering=cols[1].strip(),
            note=cols[2].strip() if len(cols) > 2 else "", source=path.name))
    return entries


def load_seed_glossary(store: Store) -> int:
    """Add the shipped glossary (idempotent); returns how many entries were new."""
    return store.add_glossary(read_glossary_tsv(SEED_GLOSSARY))

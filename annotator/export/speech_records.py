"""Speech-level gold in the exports: one record per speech with frames for it as a whole.

* ``jsonl``: after the segment records, in the same file; every record says its ``level``
  (``"segment"`` or ``"speech"``), and ``annotator import-labels`` reads both back.
* ``parquet``: a file of its own beside the segments', ``<name>.speeches.parquet``.
* ``hf``: a ``DatasetDict`` of its own (train, dev, test: the sides with speeches) in the
  ``speeches`` folder of the export.

A record: ``level``, ``speech_id`` (this project's), ``speech_hash`` (the speech's key, which
holds across projects), ``title``, ``language``, ``frames``, ``split`` (the speech's side of the
project's one split), ``source``, ``annotators``, ``tie``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from annotator.inputs import json_lines, read_input
from annotator.splits import SPLIT_NAMES, assign_sides, label_keys
from annotator.store import Store
from annotator.store.gold import SpeechGold, project_sides

SPEECH_LEVEL = "speech"
SPEECHES_FOLDER = "speeches"  # inside an hf export


def speech_sides(store: Store, gold: Sequence[SpeechGold], project: bool, fractions: Sequence[float], seed: int,
                 fixed: Mapping[str, str]) -> dict[str, str]:
    """Each speech's side: the project's own (placed and kept now where new), or with another
    seed or fractions this export's own split, where the speeches of its segments keep theirs
    (``fixed``)."""
    items = [(g.speech_key, label_keys(g.frames, ())) for g in gold]
    if project:
        return project_sides(store, items)
    return assign_sides(items, fractions, seed, fixed=fixed)


def speech_record(gold: SpeechGold, side: str) -> dict[str, Any]:
    return {"level": SPEECH_LEVEL, "speech_id": gold.speech_id, "speech_hash": gold.speech_key, "title": gold.title,
            "language": gold.language, "frames": list(gold.frames), "split": side, "source": gold.source,
            "annotators": list(gold.annotators), "tie": gold.tie}


def speech_summary(records: Sequence[dict[str, Any]], gold: Sequence[SpeechGold]) -> dict[str, Any]:
    """The metadata's account of the speech-level records."""
    sizes = Counter(r["split"] for r in records)
    return {"speeches": len(records), "sizes": {name: sizes.get(name, 0) for name in SPLIT_NAMES},
            "frame_counts": dict(sorted(Counter(f for r in records for f in r["frames"]).items())),
            "by_source": dict(Counter(r["source"] for r in records)),
            "ties": [{"speech_id": g.speech_id, "speech_hash": g.speech_key, "what": what}
                     for g in gold for what in g.ties]}


def speeches_file(dest: Path, fmt: str) -> Path | None:
    """Where a format keeps the speech-level records apart from the segments' (None: in the same file)."""
    if fmt == "parquet":
        return dest.with_name(dest.stem + ".speeches" + dest.suffix)
    if fmt == "hf":
        return dest / SPEECHES_FOLDER
    return None


def arrow_schema():
    import pyarrow as pa

    return pa.schema([
        ("level", pa.string()), ("speech_id", pa.int64()), ("speech_hash", pa.string()), ("title", pa.string()),
        ("language", pa.string()), ("frames", pa.list_(pa.string())), ("split", pa.string()),
        ("source", pa.string()), ("annotators", pa.list_(pa.string())), ("tie", pa.bool_()),
    ])


def write_parquet(records: Sequence[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(records), schema=arrow_schema()), path)


def write_hf(records: Sequence[dict[str, Any]], folder: Path) -> None:
    """A ``DatasetDict`` with the sides that have speeches (train, dev, test), saved with
    ``save_to_disk`` (``datasets`` cannot load a saved split without rows back)."""
    import datasets
    import pyarrow as pa

    parts = {name: datasets.Dataset(pa.Table.from_pylist(rows, schema=arrow_schema()))
             for name in SPLIT_NAMES if (rows := [r for r in records if r["split"] == name])}
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(parts).save_to_disk(str(folder))
    finally:
        if bars:
            datasets.enable_progress_bars()


def read_speech_export(path: Path, fmt: str) -> list[dict[str, Any]]:
    """The speech-level records of an export (for checks and round trips)."""
    path = Path(path)
    if fmt == "jsonl":
        rows = [row for _, row in json_lines(read_input(path, "label file"), path)]
        return [r for r in rows if isinstance(r, dict) and r.get("level") == SPEECH_LEVEL]
    where = speeches_file(path, fmt)
    if where is None or not where.exists():
        return []
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(where).to_pylist()
    import datasets

    dd = datasets.load_from_disk(str(where))
    return [row for name in dd for row in dd[name].to_list()]

"""The export formats, each with a reader so that an export can be checked by reading it back.

* ``jsonl``: one segment per line (id, speech, language, text, translation with its
  provenance, the word gloss apart, frames, spans with character offsets and text, split, where
  the labels came from and the decision's status: accepted, corrected or rejected), then one
  line per speech with frames for it as a whole; each line says its ``level`` (see
  :mod:`annotator.export.speech_records`, which also puts the speech-level records of the
  ``parquet`` and ``hf`` exports beside the segments').
* ``csv``: frames only, one 0/1 column per label beside id, text, split and status.
* ``conll``: spans only, BIO tags per token (token TAB tag), ``# id = …`` / ``# text = …`` lines
  before each segment and a blank line after. Tokens are whitespace-separated words in spaced
  scripts and single characters in CJK; tokens are also cut at span edges, so every span starts
  and ends on a token and the character offsets come back exactly from ``# text``.
* ``hf``: a Hugging Face ``datasets`` folder (``DatasetDict.save_to_disk``) with train/dev/test.
* ``parquet``: one table with a ``split`` column.
* ``prodigy`` / ``labelstudio``: see :mod:`annotator.export.interop`.

Rejected segments (no label applies) are negatives, exported with status ``rejected`` and no
labels, unless ``rejected="drop"`` leaves them out (``annotator export --rejected drop``).

Every export writes ``metadata.json`` (inside a folder export) or ``<name>.metadata.json``
(beside a file export): scheme and its hash, the labels (their ids, which the data files hold,
and ``label_names``: each id's display name, as the screens and the report show it), split seed
and sizes, counts, ties, time, version.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from annotator import __version__
from annotator.errors import AnnotatorError
from annotator.export.files import DEFAULT_BASE_DIR, atomic_file, atomic_folder, resolve_out
from annotator.export import speech_records
from annotator.store.gold import GoldExample, GoldSet, gold_labels, speech_gold_labels
from annotator.export.splits import DEFAULT_FRACTIONS, DEFAULT_SEED, SPLIT_NAMES, project_split, split_examples
from annotator.schemes import Scheme, get_scheme
from annotator.store import Store
from annotator.text import is_unspaced

FORMATS = ("jsonl", "csv", "conll", "hf", "parquet", "prodigy", "labelstudio")
DEFAULT_NAMES = {
    "jsonl": "gold.jsonl", "csv": "gold-frames.csv", "conll": "gold-spans.conll", "hf": "gold-hf",
    "parquet": "gold.parquet", "prodigy": "gold.prodigy.jsonl", "labelstudio": "gold.labelstudio.json",
}
CSV_FIXED = ("id", "uid", "speech_id", "language", "split", "status", "text")
REJECTED_CHOICES = ("negative", "drop")  # rejected segments: negatives (no label applies), or left out


# ------------------------------------------------------------------ records


def export_record(ex: GoldExample, split: str) -> dict[str, Any]:
    """The JSONL/Parquet/HF row for one gold example."""
    return {
        "id": ex.segment_id, "uid": ex.segment_uid, "speech_id": ex.speech_id, "speech_title": ex.speech_title,
        "language": ex.language, "text": ex.text, "translation": ex.translation,
        "translation_provenance": ex.translation_provenance, "translation_origin": ex.translation_origin,
        "gloss": ex.gloss,
        "frames": list(ex.frames), "spans": [dict(s) for s in ex.spans], "split": split,
        "source": ex.source, "annotators": list(ex.annotators), "tie": ex.tie, "status": ex.status,
    }


# -------------------------------------------------------------------- jsonl


def write_jsonl(records: Sequence[dict[str, Any]], path: Path, speeches: Sequence[dict[str, Any]] = ()) -> None:
    """Segment records, then the speech-level ones (``speech_records.speech_record``)."""
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            row = {"level": "segment", **{k: v for k, v in r.items() if k not in ("speech_id", "speech_title")},
                   "speech": {"id": r["speech_id"], "title": r["speech_title"]}}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        for r in speeches:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The segment records (``speech_records.read_speech_export`` reads the speech-level ones)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if row.pop("level", "segment") != "segment":
                    continue
                speech = row.pop("speech", {}) or {}
                out.append({**row, "speech_id": speech.get("id"), "speech_title": speech.get("title", "")})
    return out


# ---------------------------------------------------------------------- csv


def frame_columns(records: Sequence[dict[str, Any]], scheme: Scheme) -> list[str]:
    """The scheme's frame labels, then any other label found in the data (kept, not dropped)."""
    known = list(scheme.frame_ids)
    extra = sorted({f for r in records for f in r["frames"]} - set(known))
    return known + extra


def span_labels(records: Sequence[dict[str, Any]], scheme: Scheme) -> list[str]:
    known = list(scheme.span_ids)
    return known + sorted({s["label"] for r in records for s in r["spans"]} - set(known))


def write_csv(records: Sequence[dict[str, Any]], path: Path, labels: Sequence[str]) -> None:
    clash = set(labels) & set(CSV_FIXED)
    if clash:
        raise AnnotatorError(f"frame label(s) {', '.join(sorted(clash))} clash with CSV columns; rename them in the scheme")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*CSV_FIXED, *labels])
        for r in records:
            chosen = set(r["frames"])
            writer.writerow([r["id"], r["uid"], r["speech_id"], r["language"], r["split"], r["status"], r["text"],
                             *(1 if lab in chosen else 0 for lab in labels)])


def read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        labels = [c for c in reader.fieldnames or [] if c not in CSV_FIXED]
        return [
            {"id": int(row["id"]), "uid": row["uid"], "speech_id": int(row["speech_id"]),
             "language": row["language"], "split": row["split"], "status": row["status"], "text": row["text"],
             "frames": [lab for lab in labels if row[lab] == "1"]}
            for row in reader
        ]


# -------------------------------------------------------------------- conll


def tokenize(text: str, cuts: Sequence[int] = ()) -> list[tuple[int, int]]:
    """Token offsets: whitespace words, single CJK characters, and cuts at the given offsets."""
    tokens: list[tuple[int, int]] = []
    start: int | None = None
    cut_set = set(cuts)
    for i, ch in enumerate(text):
        if ch.isspace() or is_unspaced(ch) or i in cut_set:
            if start is not None:
                tokens.append((start, i))
                start = None
        if ch.isspace():
            continue
        if is_unspaced(ch):
            tokens.append((i, i + 1))
        elif start is None:
            start = i
    if start is not None:
        tokens.append((start, len(text)))
    return tokens


def bio_tags(text: str, spans: Sequence[dict[str, Any]]) -> tuple[list[tuple[str, str]], int]:
    """(token, tag) pairs for one segment, and how many spans BIO could not hold (overlaps)."""
    ordered = sorted(spans, key=lambda s: (s["start"], -s["end"]))
    tokens = tokenize(text, [s["start"] for s in ordered] + [s["end"] for s in ordered])
    tags = ["O"] * len(tokens)
    dropped = 0
    for span in ordered:
        inside = [i for i, (s, e) in enumerate(tokens) if span["start"] <= s and e <= span["end"]]
        if not inside or any(tags[i] != "O" for i in inside):
            dropped += 1  # BIO cannot represent overlapping spans
            continue
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + span["label"]
    return [(text[s:e], tag) for (s, e), tag in zip(tokens, tags)], dropped


def write_conll(records: Sequence[dict[str, Any]], path: Path) -> int:
    """Write BIO blocks; returns the number of overlapping spans left out."""
    dropped_total = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            pairs, dropped = bio_tags(r["text"], r["spans"])
            dropped_total += dropped
            fh.write(f"# id = {r['id']}\n# uid = {r['uid']}\n# split = {r['split']}\n# status = {r['status']}\n")
            if "\n" in r["text"] or "\r" in r["text"]:
                fh.write(f"# text_json = {json.dumps(r['text'], ensure_ascii=False)}\n")
            else:
                fh.write(f"# text = {r['text']}\n")
            for token, tag in pairs:
                fh.write(f"{token}\t{tag}\n")
            fh.write("\n")
    return dropped_total


def read_conll(path: Path) -> list[dict[str, Any]]:
    """Segments with spans rebuilt as character offsets into ``# text``."""
    out: list[dict[str, Any]] = []
    block: dict[str, Any] = {"rows": []}
    with open(path, encoding="utf-8") as fh:
        for line in [*fh, "\n"]:
            line = line.rstrip("\n")
            if not line:
                if block["rows"] or "text" in block:
                    out.append(_conll_block(block))
                block = {"rows": []}
            elif line.startswith("# ") and " = " in line and not block["rows"]:
                key, value = line[2:].split(" = ", 1)
                block[key] = json.loads(value) if key == "text_json" else value
                if key == "text_json":
                    block["text"] = block.pop("text_json")
            else:
                token, tag = line.split("\t")
                block["rows"].append((token, tag))
    return out


def _conll_block(block: dict[str, Any]) -> dict[str, Any]:
    text = block.get("text", "")
    spans: list[dict[str, Any]] = []
    pos = 0
    for token, tag in block["rows"]:
        start = text.index(token, pos)
        pos = start + len(token)
        if tag.startswith("B-") or (tag.startswith("I-") and (not spans or spans[-1]["end"] is None)):
            spans.append({"start": start, "end": pos, "label": tag[2:]})
        elif tag.startswith("I-"):
            spans[-1]["end"] = pos
    return {"id": int(block["id"]), "uid": block.get("uid", ""), "split": block.get("split", ""),
            "status": block.get("status", ""), "text": text, "spans": [{**s, "text": text[s["start"]:s["end"]]} for s in spans]}


# ------------------------------------------------------------ parquet / hf


def arrow_schema():
    import pyarrow as pa

    span = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())])
    return pa.schema([
        ("id", pa.int64()), ("uid", pa.string()), ("speech_id", pa.int64()), ("speech_title", pa.string()),
        ("language", pa.string()), ("text", pa.string()), ("translation", pa.string()),
        ("translation_provenance", pa.string()), ("translation_origin", pa.string()), ("gloss", pa.string()),
        ("frames", pa.list_(pa.string())), ("spans", pa.list_(span)), ("split", pa.string()),
        ("source", pa.string()), ("annotators", pa.list_(pa.string())), ("tie", pa.bool_()),
        ("status", pa.string()),
    ])


def write_parquet(records: Sequence[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(records), schema=arrow_schema()), path)


def read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def write_hf(records: Sequence[dict[str, Any]], folder: Path) -> None:
    """A ``DatasetDict`` with one key per split (train, dev, test), saved with ``save_to_disk``."""
    import datasets
    import pyarrow as pa

    parts = {
        name: datasets.Dataset(pa.Table.from_pylist([r for r in records if r["split"] == name], schema=arrow_schema()))
        for name in SPLIT_NAMES
    }
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the command prints one line; no bars per split
    try:
        datasets.DatasetDict(parts).save_to_disk(str(folder))
    finally:
        if bars:
            datasets.enable_progress_bars()


def read_hf(folder: Path) -> list[dict[str, Any]]:
    import datasets

    dd = datasets.load_from_disk(str(folder))
    return [row for name in dd for row in dd[name].to_list()]


# ------------------------------------------------------------------ export


@dataclass
class ExportReport:
    path: Path
    metadata_path: Path
    fmt: str
    summary: dict[str, Any]
    split: dict[str, Any]
    ties: int
    notes: list[str] = field(default_factory=list)
    speech_level: dict[str, Any] = field(default_factory=dict)  # speech_records.speech_summary
    rejected: dict[str, Any] = field(default_factory=dict)  # {"as": "negative" | "drop", "segments": n}

    def line(self) -> str:
        sizes = self.split["sizes"]
        text = (f"wrote {self.path}: {self.summary['segments']} segments from {self.summary['speeches']} speeches "
                f"(train {sizes['train']} / dev {sizes['dev']} / test {sizes['test']}), {self.ties} ties")
        if self.ties:  # a tie is a label chosen by exactly half of a segment's annotators
            n = self.summary.get("segments_with_ties", 0)
            text += f" (tied labels) in {n} segment{'s' if n != 1 else ''}"
        n = self.rejected.get("segments", 0)
        if n:
            text += (f", {n} rejected left out" if self.rejected.get("as") == "drop"
                     else f", {n} rejected as negatives (no label)")
        if self.speech_level.get("speeches"):
            s = self.speech_level["sizes"]
            where = f" in {self.speech_level['file']}" if self.speech_level.get("file") else ""
            text += (f"; frames for {self.speech_level['speeches']} whole speeches{where} (train {s['train']} / "
                     f"dev {s['dev']} / test {s['test']})")
        return "; ".join([text + f"; metadata {self.metadata_path.name}", *self.notes])


def metadata_path_for(dest: Path, fmt: str) -> Path:
    return dest / "metadata.json" if fmt == "hf" else dest.with_name(dest.name + ".metadata.json")


def build_metadata(gold: GoldSet, split: dict[str, Any], scheme: Scheme, fmt: str, dest: Path,
                   annotators: Sequence[str] | None, extra: dict[str, Any]) -> dict[str, Any]:
    uids = {ex.segment_id: ex.segment_uid for ex in gold.examples}
    return {
        "tool": "annotator", "tool_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": fmt, "file": dest.name,
        "scheme": scheme.name, "scheme_hash": scheme.hash,
        "frame_labels": scheme.frame_ids, "span_labels": scheme.span_ids,
        "label_names": scheme.display_names,
        "annotators": list(annotators) if annotators else "all",
        "split": split, "counts": gold.summary(),
        "ties": [{"segment_id": t.segment_id, "uid": uids.get(t.segment_id, ""), "what": t.what} for t in gold.ties],
        **extra,
    }


def _write_data(records: list[dict[str, Any]], fmt: str, tmp: Path, dest: Path, scheme: Scheme,
                speeches: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Write one format to ``tmp`` (renamed to ``dest`` later); returns facts for the metadata.
    ``speeches``: the speech-level records, for the formats that keep them in the same file."""
    from annotator.export import interop

    if fmt == "jsonl":
        write_jsonl(records, tmp, speeches)
    elif fmt == "csv":
        labels = frame_columns(records, scheme)
        write_csv(records, tmp, labels)
        return {"csv_columns": [*CSV_FIXED, *labels]}
    elif fmt == "conll":
        dropped = write_conll(records, tmp)
        return {"conll": {"tokens": "whitespace words; single CJK characters; cut at span edges",
                          "overlapping_spans_left_out": dropped}}
    elif fmt == "parquet":
        write_parquet(records, tmp)
    elif fmt == "hf":
        write_hf(records, tmp)
        return {"hf_splits": list(SPLIT_NAMES)}
    elif fmt == "prodigy":
        interop.write_prodigy(records, tmp, frame_labels=frame_columns(records, scheme),
                              names=scheme.display_names)
    elif fmt == "labelstudio":
        # Label Studio imports a JSON array (.json) or JSON lines (.jsonl): follow the name.
        as_array = dest.suffix.lower() != ".jsonl"
        interop.write_labelstudio(records, tmp, as_array=as_array)
        return {"labelstudio": "json array" if as_array else "json lines",
                "labelstudio_config": interop.labelstudio_config(frame_columns(records, scheme), span_labels(records, scheme),
                                                                  scheme.display_names)}
    else:
        raise AnnotatorError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    return {}


def export_gold(store: Store, fmt: str, out: str | Path | None = None, base_dir: str | Path = DEFAULT_BASE_DIR,
                seed: int = DEFAULT_SEED, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                annotators: Sequence[str] | None = None, scheme: Scheme | None = None,
                target_lang: str = "en", rejected: str = "negative") -> ExportReport:
    """Write the project's gold labels in one format (plus metadata), atomically, inside ``base_dir``.

    ``rejected``: ``negative`` (rejected segments are exported, status ``rejected``, with no
    label: the way training counts them) or ``drop`` (left out, with their ties)."""
    if fmt not in FORMATS:
        raise AnnotatorError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if rejected not in REJECTED_CHOICES:
        raise AnnotatorError(f"rejected segments: {rejected!r}; use one of {', '.join(REJECTED_CHOICES)}")
    scheme = scheme or get_scheme()
    dest = resolve_out(out, DEFAULT_NAMES[fmt], base_dir)
    gold = gold_labels(store, annotators, target_lang=target_lang)
    n_rejected = sum(ex.status == "rejected" for ex in gold.examples)
    if rejected == "drop":
        kept = [ex for ex in gold.examples if ex.status != "rejected"]
        ids = {ex.segment_id for ex in kept}
        gold = GoldSet(kept, [t for t in gold.ties if t.segment_id in ids])
    rejected_info = {"as": rejected, "segments": n_rejected}
    speech_gold = speech_gold_labels(store, annotators)
    if not gold.examples and not speech_gold:
        who = f" by {', '.join(annotators)}" if annotators else ""
        raise AnnotatorError(f"no labelled segments or speeches{who} to export; annotate some first "
                             "(`annotator annotate`)")
    project = seed == DEFAULT_SEED and all(abs(a - b) < 1e-9 for a, b in zip(fractions, DEFAULT_FRACTIONS))
    if project:
        split = project_split(store, gold.examples)  # the test set the tool itself tests on
    else:
        split = split_examples(gold.examples, fractions, seed)  # asked for another split: this export's own
    records = [export_record(ex, split.by_segment[ex.segment_id]) for ex in gold.examples]
    sides = speech_records.speech_sides(store, speech_gold, project, fractions, seed, split.sides)
    speeches = [speech_records.speech_record(g, sides[g.speech_key]) for g in speech_gold]
    speech_level = speech_records.speech_summary(speeches, speech_gold)
    apart = speech_records.speeches_file(dest, fmt)
    if apart is not None and speeches:
        speech_level["file"] = apart.name
    meta_path = metadata_path_for(dest, fmt)
    if fmt == "hf":
        with atomic_folder(dest) as tmp:
            extra = _write_data(records, fmt, tmp, dest, scheme)
            if speeches:
                speech_records.write_hf(speeches, speech_records.speeches_file(tmp, fmt))
            meta = build_metadata(gold, split.summary, scheme, fmt, dest, annotators,
                                  {**extra, "speech_level": speech_level, "rejected": rejected_info})
            (tmp / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    else:
        with atomic_file(dest) as tmp:
            extra = _write_data(records, fmt, tmp, dest, scheme, speeches)
        if fmt == "parquet" and apart is not None:
            if speeches:
                with atomic_file(apart) as speech_tmp:
                    speech_records.write_parquet(speeches, speech_tmp)
            else:
                apart.unlink(missing_ok=True)  # an earlier export's: it would describe other labels
        # The data first: a run killed in between leaves a complete file with older metadata,
        # never metadata that describes a file that is not there.
        meta = build_metadata(gold, split.summary, scheme, fmt, dest, annotators,
                              {**extra, "speech_level": speech_level, "rejected": rejected_info})
        with atomic_file(meta_path) as meta_tmp:
            meta_tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    notes = []
    dropped = extra.get("conll", {}).get("overlapping_spans_left_out", 0)
    if dropped:
        notes.append(f"{dropped} overlapping spans left out (BIO cannot hold overlaps)")
    if speeches and fmt not in ("jsonl", "parquet", "hf"):
        notes.append(f"frames for {len(speeches)} whole speeches not in this format (jsonl, parquet and hf carry them)")
        speech_level = {}
    return ExportReport(dest, meta_path, fmt, gold.summary(), split.summary, len(gold.ties), notes, speech_level,
                        rejected_info)


def read_export(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Read an export back (for checks and round-trips)."""
    from annotator.export import interop

    readers = {"jsonl": read_jsonl, "csv": read_csv, "conll": read_conll, "parquet": read_parquet, "hf": read_hf}
    if fmt in readers:
        return readers[fmt](Path(path))
    if fmt in ("prodigy", "labelstudio"):
        return [r.as_record() for r in interop.read_labels(Path(path), fmt)]
    raise AnnotatorError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")

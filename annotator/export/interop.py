"""Prodigy and Label Studio task files, both ways, so a team can move between tools.

Prodigy (JSONL): ``{"text", "spans": [{"start", "end", "label"}], "accept": [frame labels],
"answer": "accept" | "reject" | "ignore", "meta": {...}, "_input_hash", "_task_hash"}``.
Prodigy computes its hashes with MurmurHash over its own key choice; ours are stable 32-bit
integers over the same inputs (text; text + labels), which is all Prodigy needs to de-duplicate.

Label Studio (a JSON array of tasks, or JSON lines): ``{"data": {"text", ...}, "annotations":
[{"result": [...], "was_cancelled": bool, "completed_by": ...}]}`` with result items of type
``labels`` (``value.start/end/text/labels``) and ``choices`` (``value.choices``).

Reading gives :class:`LabelRecord` objects; :func:`import_labels` attaches them to the existing
segments with the same text (or the same segment uid, when the file carries one), and the
speech-level ones (frames for a whole speech, :mod:`annotator.export.speech_labels`) to their
speech, all or nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from annotator.errors import AnnotatorError, InputError, shown
from annotator.export.speech_labels import SpeechIndex, is_speech_record, says_speech_level
from annotator.inputs import json_records, read_input
from annotator.schemes import Scheme
from annotator.store import AnnotationState, SpanLabel, Store
from annotator.text import name_problem

IMPORT_FORMATS = ("prodigy", "labelstudio", "jsonl")
PRODIGY_ANSWERS = {"accept": "accepted", "reject": "rejected", "ignore": "skipped"}
FRAMES_FROM, SPANS_FROM = "frames", "label"


@dataclass
class LabelRecord:
    """One annotated text read from another tool's file."""

    line: int  # the line the record starts on, from 1
    text: str
    frames: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, str]] = field(default_factory=list)
    status: str = "accepted"
    annotator: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    level: str = "segment"  # or "speech": frames for a whole speech (``text``: its full text, or "")

    def as_record(self) -> dict[str, Any]:
        """The shape :mod:`annotator.export.formats` readers return (for round-trip checks)."""
        return {
            "id": self.meta.get("id"), "uid": self.meta.get("uid", ""), "split": self.meta.get("split", ""),
            "text": self.text, "frames": sorted(self.frames), "status": self.status,
            "spans": [{"start": s, "end": e, "label": lab, "text": self.text[s:e]} for s, e, lab in sorted(self.spans)],
        }


class ImportProblems(AnnotatorError):
    """Several ``file:line: problem`` lines; nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        rest = len(problems) - 1
        more = f" (and {rest} more problem{'s' if rest > 1 else ''})" if rest else ""
        super().__init__(f"{problems[0]}{more}; nothing was imported")


# ------------------------------------------------------------------ writing


def stable_hash(*parts: Any) -> int:
    """A signed 32-bit integer from JSON of ``parts`` (Prodigy's hashes have this range)."""
    digest = hashlib.blake2b(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8"), digest_size=4)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _meta(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "uid": r["uid"], "speech_id": r["speech_id"], "speech": r["speech_title"],
            "language": r["language"], "split": r["split"], "source": r["source"],
            "translation": r["translation"], "translation_provenance": r["translation_provenance"],
            "translation_origin": r["translation_origin"], "gloss": r["gloss"], "tie": r["tie"],
            "annotators": list(r["annotators"]), "status": r["status"]}


def prodigy_task(r: dict[str, Any], frame_labels: Sequence[str] = (),
                 names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Prodigy task; ``names``: each label's display name, the option's text a person reads
    (the id stays the option's id, what the answer holds)."""
    spans = [{"start": s["start"], "end": s["end"], "label": s["label"], "text": s["text"]} for s in r["spans"]]
    # a rejected segment (no label applies) is Prodigy's "reject", which reads back as rejected
    answer = "reject" if r.get("status") == "rejected" else "accept"
    task: dict[str, Any] = {"text": r["text"], "spans": spans, "accept": list(r["frames"]), "answer": answer,
                            "meta": _meta(r)}
    if frame_labels:
        task["options"] = [{"id": lab, "text": (names or {}).get(lab, lab)} for lab in frame_labels]
    task["_input_hash"] = stable_hash(r["text"])
    task["_task_hash"] = stable_hash(r["text"], spans, list(r["frames"]))
    return task


def write_prodigy(records: Sequence[dict[str, Any]], path: Path, frame_labels: Sequence[str] = (),
                  names: Mapping[str, str] | None = None) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(prodigy_task(r, frame_labels, names), ensure_ascii=False) + "\n")


def labelstudio_task(r: dict[str, Any]) -> dict[str, Any]:
    result: list[dict[str, Any]] = [
        {"id": f"s{i}", "from_name": SPANS_FROM, "to_name": "text", "type": "labels",
         "value": {"start": s["start"], "end": s["end"], "text": s["text"], "labels": [s["label"]]}}
        for i, s in enumerate(r["spans"])
    ]
    if r["frames"]:
        result.append({"id": "f0", "from_name": FRAMES_FROM, "to_name": "text", "type": "choices",
                       "value": {"choices": list(r["frames"])}})
    return {"id": r["id"], "data": {"text": r["text"], **{k: v for k, v in _meta(r).items() if k != "id"}},
            "annotations": [{"result": result, "was_cancelled": False, "ground_truth": True}]}


def write_labelstudio(records: Sequence[dict[str, Any]], path: Path, as_array: bool = True) -> None:
    tasks = [labelstudio_task(r) for r in records]
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        if as_array:
            json.dump(tasks, fh, ensure_ascii=False, indent=1)
        else:
            for t in tasks:
                fh.write(json.dumps(t, ensure_ascii=False) + "\n")


def labelstudio_config(frame_labels: Sequence[str], span_labels: Sequence[str],
                       names: Mapping[str, str] | None = None) -> str:
    """A labelling interface for Label Studio that matches the exported tasks' names: each
    label's ``value`` is its id (what the tasks and their results hold), its ``html`` the
    display name a person reads (``names``)."""
    def shown_as(lab: str) -> str:
        return f" html={quoteattr(escape((names or {}).get(lab, lab)))}"

    spans = "".join(f"<Label value={quoteattr(lab)}{shown_as(lab)}/>" for lab in span_labels)
    frames = "".join(f"<Choice value={quoteattr(lab)}{shown_as(lab)}/>" for lab in frame_labels)
    return (f'<View><Text name="text" value="$text"/><Labels name="{SPANS_FROM}" toName="text">{spans}</Labels>'
            f'<Choices name="{FRAMES_FROM}" toName="text" choice="multiple">{frames}</Choices></View>')


# ------------------------------------------------------------------ reading


def _json_items(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, parsed object) from a JSON array or JSON lines file (see :mod:`annotator.inputs`:
    a regular file, UTF-8 with or without a byte-order mark, nesting bounded, no lone surrogates)."""
    yield from json_records(read_input(path, "label file"), path)


def _kind(value: Any) -> str:
    """A JSON value's kind, as a message names it: "a number (1)", "a string", "an object"."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "a list"


def _objects(path: Path, n: int, value: Any, what: str) -> list[dict[str, Any]]:
    """``value`` (the field ``what``) as a list of objects; absent (null) is none."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(path, f"'{what}' must be a list of objects, not {_kind(value)}", n)
    for item in value:
        if not isinstance(item, dict):
            raise InputError(path, f"'{what}' must be a list of objects; it holds {_kind(item)}", n)
    return value


def _names(path: Path, n: int, value: Any, what: str) -> list[str]:
    """``value`` (the field ``what``) as a list of label names: strings, or numbers (Prodigy's
    option ids may be); absent (null) is none."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(path, f"'{what}' must be a list of label names, not {_kind(value)}", n)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InputError(path, f"'{what}' must be a list of label names; it holds {_kind(item)}", n)
    return [str(item) for item in value]


def _span(path: Path, n: int, text: str, start: Any, end: Any, label: Any, quoted: Any = None) -> tuple[int, int, str]:
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
        raise InputError(path, f"span {shown(repr(start))}-{shown(repr(end))}: start and end must be whole numbers", n)
    if not (0 <= start < end <= len(text)):
        raise InputError(path, f"span {start}-{end} is not inside the text (length {len(text)})", n)
    if not isinstance(label, str) or not label:
        raise InputError(path, f"span {start}-{end} has no label", n)
    if quoted is not None and quoted != text[start:end]:
        raise InputError(path, f"span {start}-{end} says {quoted!r} but the text there is {text[start:end]!r}", n)
    return (start, end, label)


def _spans(path: Path, n: int, text: str, value: Any) -> list[tuple[int, int, str]]:
    return [_span(path, n, text, s.get("start"), s.get("end"), s.get("label"), s.get("text"))
            for s in _objects(path, n, value, "spans")]


def _text(path: Path, n: int, obj: Any, where: str) -> str:
    text = obj.get(where) if isinstance(obj, dict) else None
    if not isinstance(text, str):
        raise InputError(path, f"no '{where}' string in this task", n)
    return text


def _annotator(path: Path, n: int, value: Any, what: str) -> str:
    """The annotator's name a file gives (``what``: its field), checked as a name."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(path, f"'{what}' must be a name, not {_kind(value)}", n)
    name = str(value)
    problem = name_problem(name)
    if problem is not None:
        raise InputError(path, f"the annotator's name in '{what}' {problem}", n)
    return name


def read_prodigy(path: Path) -> list[LabelRecord]:
    out = []
    for n, task in _json_items(path):
        text = _text(path, n, task, "text")
        answer = task.get("answer", "accept")
        if not isinstance(answer, str) or answer not in PRODIGY_ANSWERS:
            raise InputError(path, f"answer {answer!r} is not accept, reject or ignore", n)
        spans = _spans(path, n, text, task.get("spans"))
        frames = _names(path, n, task.get("accept"), "accept")
        if "label" in task and answer == "accept" and isinstance(task["label"], str) and not task.get("options"):
            frames.append(task["label"])  # a binary classification task: one label, accepted
        meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
        out.append(LabelRecord(n, text, frames, spans, PRODIGY_ANSWERS[answer],
                               _annotator(path, n, task.get("_annotator_id"), "_annotator_id"), meta))
    return out


def _labelstudio_annotator(path: Path, n: int, ann: dict[str, Any]) -> str:
    who = ann.get("completed_by")
    if isinstance(who, dict):
        field_name = next((k for k in ("email", "username", "id") if who.get(k)), "id")
        return _annotator(path, n, who.get(field_name), f"completed_by.{field_name}")
    name = _annotator(path, n, who, "completed_by")
    return f"labelstudio-{name}" if name else ""


def _labelstudio_result(path: Path, n: int, text: str, result: Any) -> tuple[list[str], list[tuple[int, int, str]]]:
    frames: list[str] = []
    spans: list[tuple[int, int, str]] = []
    for item in _objects(path, n, result, "result"):
        value = item.get("value")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise InputError(path, f"a result's 'value' must be an object, not {_kind(value)}", n)
        if item.get("type") == "labels":
            for label in _names(path, n, value.get("labels"), "value.labels"):
                spans.append(_span(path, n, text, value.get("start"), value.get("end"), label, value.get("text")))
        elif item.get("type") == "choices":
            frames.extend(_names(path, n, value.get("choices"), "value.choices"))
    return frames, spans


def read_labelstudio(path: Path) -> list[LabelRecord]:
    out = []
    for n, task in _json_items(path):
        data = task.get("data") if isinstance(task, dict) else None
        text = _text(path, n, data, "text")
        meta = {k: v for k, v in data.items() if k != "text"}
        meta.setdefault("id", task.get("id"))
        field_name = "annotations" if task.get("annotations") or task.get("completions") is None else "completions"
        for ann in _objects(path, n, task.get(field_name), field_name):
            if ann.get("was_cancelled"):
                out.append(LabelRecord(n, text, status="skipped", annotator=_labelstudio_annotator(path, n, ann),
                                       meta=meta))
                continue
            frames, spans = _labelstudio_result(path, n, text, ann.get("result"))
            out.append(LabelRecord(n, text, frames, spans, "accepted", _labelstudio_annotator(path, n, ann), meta))
    return out


def read_own_jsonl(path: Path) -> list[LabelRecord]:
    """Our own JSONL export, so labels can travel between projects without a merge; and
    document-level data sets, one speech's frames per record (``speech_labels``)."""
    out = []
    for n, row in _json_items(path):
        if isinstance(row, dict) and is_speech_record(row):
            text = row.get("text") if isinstance(row.get("text"), str) else ""
            out.append(LabelRecord(n, text, _names(path, n, row.get("frames"), "frames"), [], "accepted", "", row,
                                   level="speech"))
            continue
        text = _text(path, n, row, "text")
        spans = _spans(path, n, text, row.get("spans"))
        status = "rejected" if row.get("status") == "rejected" else "accepted"
        out.append(LabelRecord(n, text, _names(path, n, row.get("frames"), "frames"), spans, status, "", row))
    return out


def read_labels(path: Path, fmt: str) -> list[LabelRecord]:
    readers = {"prodigy": read_prodigy, "labelstudio": read_labelstudio, "jsonl": read_own_jsonl}
    if fmt not in readers:
        raise AnnotatorError(f"unknown label format {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}")
    return readers[fmt](Path(path))


# ------------------------------------------------------------------ import


@dataclass
class LabelImportReport:
    decisions: int
    segments: int
    annotators: list[str]
    by_status: dict[str, int]
    speech_decisions: int = 0  # on whole speeches
    speeches: int = 0
    priors: list[str] = field(default_factory=list)  # the names among ``annotators`` that hold pre-annotations

    def line(self) -> str:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items()))
        what = f"{self.decisions} decisions on {self.segments} segments"
        if self.speech_decisions:
            what += f" and {self.speech_decisions} on {self.speeches} whole speeches"
        line = f"imported {what} by {', '.join(self.annotators)} ({statuses})"
        if self.priors:
            line += f"; a prior (any person's decision supersedes it): {', '.join(self.priors)}"
        return line


def _state(record: LabelRecord) -> AnnotationState:
    if record.status != "accepted":
        return AnnotationState((), (), record.status)
    if not record.frames and not record.spans:
        # The other tool's annotator saw the segment and chose nothing: ours calls that rejected.
        return AnnotationState((), (), "rejected")
    return AnnotationState(tuple(sorted(set(record.frames))),
                           tuple(SpanLabel(s, e, lab) for s, e, lab in sorted(set(record.spans))), "accepted")


def _check_labels(path: Path, record: LabelRecord, scheme: Scheme) -> list[str]:
    problems = []
    for f in record.frames:
        if f not in scheme.frame_ids:
            problems.append(f"{path}:{record.line}: unknown frame label {f!r} (scheme {scheme.name})")
    for _, _, lab in record.spans:
        if lab not in scheme.span_ids:
            problems.append(f"{path}:{record.line}: unknown span label {lab!r} (scheme {scheme.name})")
    return problems


class SegmentIndex:
    """The project's segments by uid and by exact text (one pass over them)."""

    def __init__(self, store: Store) -> None:
        self.by_text: dict[str, list[int]] = {}
        self.by_uid: dict[str, tuple[int, str]] = {}
        for seg in store.iter_segments():
            self.by_text.setdefault(seg.text, []).append(seg.id)
            self.by_uid[seg.uid] = (seg.id, seg.text)

    def ids(self, record: LabelRecord) -> list[int]:
        """The segments a record labels: its uid's if the text agrees, else every one with its text."""
        hit = self.by_uid.get(str(record.meta.get("uid") or ""))
        return [hit[0]] if hit and hit[1] == record.text else self.by_text.get(record.text, [])


def match_records(store: Store, records: Sequence[LabelRecord], path: Path) -> tuple[list[list[int]], list[str]]:
    """For each record the ids it labels — segments, or for a speech-level record its one
    speech (``record.level`` says which; a record whose text is no segment's but a whole
    speech's, without spans, becomes speech-level) — and the problems, ``file:line: what``."""
    segments, speeches = SegmentIndex(store), SpeechIndex(store)
    matches, problems = [], []
    for r in records:
        ids = [] if r.level == "speech" else segments.ids(r)
        whole = speeches.with_text(r.text) if r.text and not ids else None
        if r.level != "speech" and (says_speech_level(r.meta) or (whole is not None and not r.spans)):
            r.level = "speech"  # e.g. a document-level data set: its texts are whole speeches
        if r.level == "speech":
            speech_id, problem = speeches.resolve(r.meta, r.text)
            if r.spans or r.meta.get("spans"):
                problem = problem or "frames for a whole speech have no spans; put spans on segment records"
            if problem:
                problems.append(f"{path}:{r.line}: {problem}")
            matches.append([speech_id] if speech_id is not None and not problem else [])
            continue
        if not ids:
            problems.append(f"{path}:{r.line}: " + ("this text is a whole speech's: frames only, spans go on "
                                                   "segment records" if whole is not None else "no segment with this text"))
        matches.append(ids)
    return matches, problems


def import_labels(store: Store, path: str | Path, fmt: str, scheme: Scheme, annotator: str | None = None,
                  default_annotator: str = "annotator", prior: bool = False) -> LabelImportReport:
    """Attach the labels in another tool's file to this project's segments, all or nothing.

    ``annotator`` puts every decision under that name; otherwise each record keeps the name the
    file gives (Prodigy ``_annotator_id``, Label Studio ``completed_by``) or ``default_annotator``.
    A text found in several segments (a repeated "Thank you.") labels each of them.
    ``prior``: the labels are pre-annotations, kept under ``annotator`` (required), which the
    project then records as a prior (``store.gold``: any person's decision supersedes them).
    """
    path = Path(path)
    if prior:
        _check_prior_name(store, annotator)
    store.refuse_own_files([path])
    records = read_labels(path, fmt)
    if not records:
        raise InputError(path, "no annotated tasks in this file")
    matches, problems = match_records(store, records, path)
    for r in records:
        problems.extend(_check_labels(path, r, scheme))
    if problems:
        raise ImportProblems(problems)
    by_status: dict[str, int] = {}
    names: set[str] = set()
    labelled: dict[str, set[int]] = {"segment": set(), "speech": set()}
    decisions = {"segment": 0, "speech": 0}
    with store.write():
        if prior:
            assert annotator is not None
            store.add_prior(annotator, f"import-labels {path.name}")
        for record, ids in zip(records, matches):
            name = annotator or record.annotator or default_annotator
            state = _state(record)
            decide = store.decide_speech if record.level == "speech" else store.decide
            for item in ids:
                decide(item, name, state)
                decisions[record.level] += 1
                labelled[record.level].add(item)
            names.add(name)
            by_status[state.status] = by_status.get(state.status, 0) + len(ids)
    priors = store.prior_annotators()
    return LabelImportReport(decisions["segment"], len(labelled["segment"]), sorted(names), by_status,
                             decisions["speech"], len(labelled["speech"]), sorted(names & priors))


def _check_prior_name(store: Store, annotator: str | None) -> None:
    """Pre-annotations need a name of their own: never a person's, never an adjudicator's."""
    from annotator.store.gold import is_adjudicator

    if not annotator:
        raise AnnotatorError("--prior: name the pre-annotations with --annotator NAME (e.g. --annotator corpus-labels)")
    if is_adjudicator(annotator):
        raise AnnotatorError(f"--prior: {annotator!r} is an adjudicator's name; give the pre-annotations a name of their own")
    if not store.is_prior(annotator) and store.has_decisions(annotator):
        raise AnnotatorError(f"--prior: {annotator!r} already holds a person's decisions in this project; give the "
                             "pre-annotations a name of their own with --annotator")

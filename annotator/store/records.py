"""Domain objects the store hands out, so that callers (services, UI) never see SQL rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotator.schemes import DEFAULT_SPAN_LABEL
from annotator.thresholds import reaches


@dataclass(frozen=True)
class SpanLabel:
    """A labelled character span: Python code points, start inclusive, end exclusive."""

    start: int
    end: int
    label: str = DEFAULT_SPAN_LABEL

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SpanLabel":
        return cls(int(data["start"]), int(data["end"]), str(data.get("label", DEFAULT_SPAN_LABEL)))


@dataclass(frozen=True)
class AnnotationState:
    """What an annotator decided for one segment."""

    frames: tuple[str, ...] = ()
    spans: tuple[SpanLabel, ...] = ()
    status: str = "accepted"

    def to_json(self) -> str:
        return json.dumps(
            {"frames": list(self.frames), "spans": [s.to_dict() for s in self.spans], "status": self.status},
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> "AnnotationState | None":
        if text is None:
            return None
        data = json.loads(text)
        return cls(
            frames=tuple(data.get("frames", [])),
            spans=tuple(SpanLabel.from_dict(s) for s in data.get("spans", [])),
            status=data.get("status", "accepted"),
        )


@dataclass(frozen=True)
class Speech:
    id: int
    title: str
    speaker: str
    date: str
    venue: str
    language: str
    source: str
    licence: str
    external_id: str
    content_hash: str
    text: str = ""


@dataclass(frozen=True)
class Segment:
    id: int
    uid: str
    speech_id: int
    position: int
    start: int
    end: int
    text: str
    language: str


@dataclass(frozen=True)
class Translation:
    segment_id: int
    target_lang: str
    text: str
    provenance: str
    model: str = ""
    # A corpus translation's alignment to the segment: "1-1", "2-1" (two segments, one
    # translated sentence), "1-2", or "position" (by relative position); and its score, 0..1
    # (cosine distance against that of unrelated sentences; None where there is none).
    alignment: str = ""
    score: float | None = None


@dataclass(frozen=True)
class SpeechTranslation:
    """A corpus's translation of a whole speech, and how its segments' translations were aligned."""

    speech_id: int
    target_lang: str
    text: str
    source: str
    aligned_by: str  # "position", or "encoder:<key>"


@dataclass(frozen=True)
class Suggestion:
    segment_id: int
    model_version: str
    kind: str  # "frame" | "span"
    label: str
    score: float
    start: int | None = None
    end: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Annotation:
    segment_id: int
    annotator: str
    state: AnnotationState
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class SpeechAnnotation:
    """An annotator's decision on a whole speech: its frames and a status (``state.spans`` is empty)."""

    speech_id: int
    annotator: str
    state: AnnotationState
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class SpeechScore:
    """One label's score for a whole speech from one model version, and the threshold it was
    judged by (the label is suggested when the score reaches it)."""

    speech_id: int
    model_version: str
    label: str
    score: float
    threshold: float

    @property
    def suggested(self) -> bool:
        return reaches(self.score, self.threshold)


@dataclass(frozen=True)
class GlossaryEntry:
    """A known formulation (``source_text`` in ``language``) and its official English
    ``rendering``; ``source``: where the rendering was published (or who added the entry);
    ``variants``: other renderings seen in English text, ``;``-separated, matched there too."""

    source_text: str
    language: str
    rendering: str
    note: str = ""
    source: str = ""
    variants: str = ""

    @property
    def renderings(self) -> tuple[str, ...]:
        """The official rendering, then the variants."""
        return tuple(dict.fromkeys(r.strip() for r in (self.rendering, *self.variants.split(";")) if r.strip()))


# From rows (dicts, as ``Database.query`` gives them) to records -------------------------------

def state_from_row(row: dict[str, Any]) -> AnnotationState:
    """The decision an ``annotations`` row holds (ours, or another project's in a merge)."""
    return AnnotationState(
        frames=tuple(json.loads(row["frames"])),
        spans=tuple(SpanLabel.from_dict(s) for s in json.loads(row.get("spans") or "[]")),  # a speech's: none
        status=row["status"],
    )


def parse_state(frames: Any, spans: Any, status: Any) -> AnnotationState:
    """A decision from its stored fields (``frames`` and ``spans`` as JSON text), read strictly,
    for rows this version did not write (a colleague's, in a merge): a ``ValueError`` says what
    is wrong, where :func:`state_from_row` would make letters of a string of frames."""
    if not isinstance(status, str):
        raise ValueError("status is not text")
    return AnnotationState(_strings(_json(frames, "frames"), "frames"), _spans(_json(spans, "spans")), status)


def parse_state_json(text: Any, what: str = "state") -> AnnotationState | None:
    """A history entry's ``state`` or ``before`` (``None``: no decision), read strictly (see
    :func:`parse_state`)."""
    if text is None:
        return None
    data = _json(text, what)
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list) or "status" not in data:
        raise ValueError(f"{what} is not a decision (an object with frames, spans and status)")
    return AnnotationState(_strings(data["frames"], f"{what}'s frames"), _spans(data.get("spans", []), what),
                           _text(data["status"], f"{what}'s status"))


def _json(text: Any, what: str) -> Any:
    if not isinstance(text, str):
        raise ValueError(f"{what} is not JSON text")
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"{what} is not valid JSON") from None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} is not a list of names")
    return tuple(value)


def _spans(value: Any, owner: str = "") -> tuple[SpanLabel, ...]:
    what = f"{owner}'s spans" if owner else "spans"
    if not isinstance(value, list):
        raise ValueError(f"{what} is not a list")
    spans = []
    for s in value:
        if not isinstance(s, dict) or not all(type(s.get(k)) is int for k in ("start", "end")):
            raise ValueError(f"{what}: {s!r:.60} is not a span (start and end as whole numbers)")
        spans.append(SpanLabel(s["start"], s["end"], _text(s.get("label", DEFAULT_SPAN_LABEL), f"{what}: a label")))
    return tuple(spans)


def annotation_from_row(row: dict[str, Any]) -> Annotation:
    return Annotation(row["segment_id"], row["annotator"], state_from_row(row), row["created_at"], row["updated_at"])


def speech_annotation_from_row(row: dict[str, Any]) -> SpeechAnnotation:
    return SpeechAnnotation(row["speech_id"], row["annotator"], state_from_row(row), row["created_at"],
                            row["updated_at"])


def speech_from_row(row: dict[str, Any]) -> Speech:
    """A speech from a ``speeches`` row (with or without its text); empty fields read as ""."""
    return Speech(**{k: (v if k == "id" else v or "") for k, v in row.items() if k in Speech.__dataclass_fields__})


SEGMENT_COLUMNS = 'id, uid, speech_id, position, start, "end", text, language'  # Segment's fields, in order


def segment_from_tuple(row: Sequence[Any]) -> Segment:
    """A segment from a row of :data:`SEGMENT_COLUMNS` (no dict in between: for many rows)."""
    return Segment(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7] or "")


def segment_from_row(row: dict[str, Any]) -> Segment:
    return Segment(
        id=row["id"], uid=row["uid"], speech_id=row["speech_id"], position=row["position"],
        start=row["start"], end=row["end"], text=row["text"], language=row["language"] or "",
    )

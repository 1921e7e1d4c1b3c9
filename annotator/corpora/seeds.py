"""Seed labels: hand-made labels shipped with a corpus, imported under the annotator ``seed``.

They are a prior, never a vote (``store.gold``): a person's decision on a segment supersedes them.

A seed file is JSONL, one labelled sentence per line::

    {"source": "chinese/reports-excerpts.jsonl", "text": "…", "language": "zh",
     "frames": ["Economic"], "spans": [{"start": 0, "end": 4, "label": "Slogan"}]}

Offsets are relative to ``text``. The sentence is looked up among the imported segments by its
exact text; when our segmentation cut it differently, the segment that contains it takes the
labels (offsets shifted). Lines that match no segment are reported, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from annotator.corpora.readers import read_text_file
from annotator.errors import InputError
from annotator.inputs import json_lines
from annotator.schemes import DEFAULT_SPAN_LABEL, Scheme
from annotator.store import AnnotationState, SpanLabel, Store

SEED_ANNOTATOR = "seed"


@dataclass
class SeedReport:
    added: int = 0
    already: int = 0
    unmatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"seed labels: {self.added} added, {self.already} already present"
        if self.unmatched:
            text += f", {len(self.unmatched)} not found in the corpus (first: {self.unmatched[0]})"
        return text


def read_seed_file(path: Path, scheme: Scheme) -> list[tuple[int, dict]]:
    text = read_text_file(path)
    known_frames, known_spans = set(scheme.frame_ids), set(scheme.span_ids)
    rows = []
    for number, row in json_lines(text, path):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"]:
            raise InputError(path, "each line needs a non-empty 'text'", number)
        for frame in row.get("frames", []):
            if frame not in known_frames:
                raise InputError(path, f"frame {frame!r} is not in scheme {scheme.name!r}", number)
        for span in row.get("spans", []):
            if span.get("label", DEFAULT_SPAN_LABEL) not in known_spans:
                raise InputError(path, f"span label {span.get('label')!r} is not in scheme {scheme.name!r}", number)
            if not (0 <= span["start"] < span["end"] <= len(row["text"])):
                raise InputError(path, f"span {span['start']}-{span['end']} lies outside the text", number)
        rows.append((number, row))
    return rows


def import_seed_labels(store: Store, path: Path, scheme: Scheme, annotator: str = SEED_ANNOTATOR) -> SeedReport:
    """Attach seed labels to the segments they belong to, in one transaction (``annotator`` is
    recorded as a prior)."""
    report = SeedReport()
    store.refuse_own_files([path])
    rows = read_seed_file(path, scheme)
    with store.write():
        store.add_prior(annotator, f"seed labels {path.name}")
        for number, row in rows:
            placements = _place(store, row["text"])
            if not placements:
                report.unmatched.append(f"{path.name}:{number}")
                continue
            for segment_id, offset, length in placements:
                if store.annotation(segment_id, annotator) is not None:
                    report.already += 1
                    continue
                spans = tuple(
                    SpanLabel(max(sp["start"] - offset, 0), min(sp["end"] - offset, length), sp.get("label", DEFAULT_SPAN_LABEL))
                    for sp in row.get("spans", [])
                    if sp["end"] - offset > 0 and sp["start"] - offset < length
                )
                frames = tuple(row.get("frames", []))
                # "nothing to label here" is a rejection, as the UI's `x` and label imports record it
                status = "accepted" if frames or spans else "rejected"
                store.decide(segment_id, annotator, AnnotationState(frames, spans, status))
                report.added += 1
    return report


def _place(store: Store, text: str) -> list[tuple[int, int, int]]:
    """Where a seed sentence lies: ``(segment id, seed offset of the segment start, segment length)``.

    Usually one segment with the same text. When our segmenter cut the sentence in two (at a
    Chinese ；, say), each part gets the sentence's frames and the spans that fall in it.
    """
    exact = store.segment_with_text(text)
    if exact is not None:
        return [(exact.id, 0, len(exact.text))]
    hit = store.speech_containing(text)
    if hit is None:
        return []
    speech_id, at = hit
    end = at + len(text)
    return [(seg.id, seg.start - at, seg.end - seg.start) for seg in store.segments_of_speech(speech_id)
            if seg.end > at and seg.start < end]

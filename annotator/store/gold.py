"""Gold labels per segment, from the decisions the team made (what export, agreement, work
assignment and training all count as "the labels").

* Pre-annotations are a prior, never a vote: the decisions of an annotator name the project
  keeps as a prior (the seed labels, ``seed``; an ``import-labels --prior``; see
  ``store.priors``) count only where no person has made a usable (non-skipped) decision on the
  segment or speech. Any person's decision, an adjudicator's included, supersedes them
  (:func:`counted`); with priors alone, the latest prior decision is the gold one (source
  ``prior``, never a tie).
* An adjudicator's decision (annotator ``adjudicator:…``) wins over everything else.
* With one annotator, their decision is the gold one.
* With several, the majority: a frame is gold when more than half of the annotators chose it;
  a span is gold when more than half marked the same (start, end, label).

A label chosen by exactly half of the annotators is a *tie* (only people tie). Ties are never
silently dropped: each is listed as a :class:`Tie`, the example carries ``tie=True``, and the
summary counts them, so an adjudicator can settle them. Skipped decisions are not gold; a
rejected one means "no frames, no spans". Each gold example keeps its status: the
adjudicator's, the single annotator's or the prior's (accepted, corrected, rejected); with a majority, rejected where more than half rejected, else
corrected where anyone corrected, else accepted. Rejected examples are negatives (no label
applies) unless the export is asked to leave them out (``annotator export --rejected drop``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from annotator.store.records import Annotation, AnnotationState, SpeechAnnotation
from annotator.store.speeches import speech_key
from annotator.store.store import Store

Span = tuple[int, int, str]

# An adjudicator's decision is stored as an ordinary annotation whose annotator name starts
# with ``adjudicator:`` (e.g. ``adjudicator:anna``), so it has history and undo like any other
# decision but never counts as one more vote in agreement or majority figures.
ADJUDICATOR_PREFIX = "adjudicator:"


def is_adjudicator(name: str) -> bool:
    """Whether an annotator name stands for an adjudicator's decisions."""
    return name.startswith(ADJUDICATOR_PREFIX)


def adjudicator_name(user: str) -> str:
    """The annotator name under which ``user``'s adjudications are stored."""
    return user if is_adjudicator(user) else ADJUDICATOR_PREFIX + user


@dataclass(frozen=True)
class Tie:
    """A label chosen by exactly half of a segment's annotators (``what``: "frame X" or "span s-e X")."""

    segment_id: int
    what: str


@dataclass
class GoldExample:
    segment_id: int
    segment_uid: str
    speech_id: int
    speech_title: str
    language: str
    text: str
    translation: str  # a translation proper (never a word gloss), or ""
    frames: list[str]
    spans: list[dict[str, Any]]  # {"start", "end", "label", "text"}; offsets into ``text``
    annotators: list[str]
    source: str  # "adjudicated" | "single" | "majority" | "prior" (pre-annotations only, no person's decision)
    tie: bool = False
    status: str = "accepted"  # "accepted" | "corrected" | "rejected" (see the module's docstring)
    translation_provenance: str = ""  # where the translation came from: human, corpus, memory, model
    translation_origin: str = ""  # which one: the model version, the corpus file, "segment 12" (memory)
    gloss: str = ""  # the word gloss (Chinese: CC-CEDICT), kept apart: it is no translation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GoldSet:
    examples: list[GoldExample] = field(default_factory=list)
    ties: list[Tie] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts for the export's metadata and the command's one-line report."""
        frames = Counter(f for ex in self.examples for f in ex.frames)
        spans = Counter(s["label"] for ex in self.examples for s in ex.spans)
        return {
            "segments": len(self.examples),
            "speeches": len({ex.speech_id for ex in self.examples}),
            "by_source": dict(Counter(ex.source for ex in self.examples)),
            "by_status": dict(Counter(ex.status for ex in self.examples)),
            "ties": len(self.ties),
            "segments_with_ties": len({t.segment_id for t in self.ties}),
            "frame_counts": dict(sorted(frames.items())),
            "span_counts": dict(sorted(spans.items())),
            "languages": dict(Counter(ex.language for ex in self.examples)),
        }


@dataclass(frozen=True)
class Combined:
    frames: list[str]
    spans: list[Span]
    source: str
    ties: list[str]
    status: str = "accepted"


def speech_group(ex: GoldExample) -> str:
    """The speech a gold example belongs to, by a stable id (its text's content hash, the first
    part of the segment uid): what the train/dev/test split keeps together."""
    return ex.segment_uid.split(":", 1)[0]


def project_sides(store: Store, items: Iterable[tuple[str, Sequence[str]]]) -> dict[str, str]:
    """The project's split side of every speech in ``items`` (``(speech hash, label keys)``, one
    per example): speeches placed before keep their side, new ones are placed now and kept.
    Export and training both call this, so they share one test set."""
    from annotator.splits import assign_sides

    import sqlite3

    items = list(items)
    try:
        with store.write():
            sides = assign_sides(items, fixed=store.split_sides())
            store.record_split_sides(sides)
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc):
            raise
        sides = assign_sides(items, fixed=store.split_sides())  # a read-only copy: placed, not kept
    return sides


def labels_of(state: AnnotationState) -> tuple[set[str], set[Span]]:
    """The labels a decision stands for (a rejected segment has none)."""
    if state.status == "rejected":
        return set(), set()
    return set(state.frames), {(s.start, s.end, s.label) for s in state.spans}


Decision = TypeVar("Decision", bound=Annotation | SpeechAnnotation)


def counted(decisions: Mapping[str, Decision], priors: Collection[str] = ()) -> dict[str, Decision]:
    """The decisions on one segment (or one whole speech) that count toward its gold labels:
    none skipped, and a prior's (``priors``: the project's pre-annotation names) only where no
    person made a usable decision on it. Export, training, agreement and adjudication all count
    by this."""
    usable = {name: a for name, a in decisions.items() if a.state.status != "skipped"}
    people = {name: a for name, a in usable.items() if name not in priors}
    return people or usable


def is_vote(annotator: str, state: AnnotationState, priors: Collection[str]) -> bool:
    """Whether a decision is a person's vote: not skipped, not an adjudicator's (which settles,
    never votes) and not a prior's (pre-annotations are no one's vote). Agreement figures and
    the disagreements an adjudicator settles count votes only."""
    return state.status != "skipped" and not is_adjudicator(annotator) and annotator not in priors


def combine(decisions: Mapping[str, Annotation | SpeechAnnotation], priors: Collection[str] = ()) -> Combined | None:
    """The gold labels of one segment (or of one whole speech) from its annotators' decisions
    (None: nothing usable); ``priors`` as for :func:`counted`."""
    usable = counted(decisions, priors)
    if usable and all(name in priors for name in usable):
        latest = max(usable.values(), key=lambda a: a.updated_at)  # pre-annotations alone: never a tie
        frames, spans = labels_of(latest.state)
        return Combined(sorted(frames), sorted(spans), "prior", [], latest.state.status)
    adjudicated = [a for name, a in usable.items() if is_adjudicator(name)]
    if adjudicated:
        latest = max(adjudicated, key=lambda a: a.updated_at)
        frames, spans = labels_of(latest.state)
        return Combined(sorted(frames), sorted(spans), "adjudicated", [], latest.state.status)
    votes = [labels_of(a.state) for a in usable.values()]
    if not votes:
        return None
    statuses = [a.state.status for a in usable.values()]
    if len(votes) == 1:
        return Combined(sorted(votes[0][0]), sorted(votes[0][1]), "single", [], statuses[0])
    frames, frame_ties = _majority([v[0] for v in votes])
    spans, span_ties = _majority([v[1] for v in votes])
    ties = [f"frame {f}" for f in sorted(frame_ties)] + [f"span {s}-{e} {lab}" for s, e, lab in sorted(span_ties)]
    status = ("rejected" if 2 * statuses.count("rejected") > len(statuses)
              else "corrected" if "corrected" in statuses else "accepted")
    return Combined(sorted(frames), sorted(spans), "majority", ties, status)


def _majority(sets: Sequence[set]) -> tuple[set, set]:
    """Items in more than half of ``sets``, and items in exactly half (ties)."""
    counts = Counter(item for s in sets for item in s)
    n = len(sets)
    won = {item for item, c in counts.items() if 2 * c > n}
    tied = {item for item, c in counts.items() if 2 * c == n}
    return won, tied


def _group(annotations: Iterable[Annotation], annotators: set[str] | None) -> dict[int, dict[str, Annotation]]:
    by_segment: dict[int, dict[str, Annotation]] = {}
    for ann in annotations:
        if annotators is None or ann.annotator in annotators:
            by_segment.setdefault(ann.segment_id, {})[ann.annotator] = ann
    return by_segment


def gold_labels(store: Store, annotators: Sequence[str] | None = None, target_lang: str = "en") -> GoldSet:
    """Gold examples for every segment with a usable decision, in reading order.

    ``annotators`` restricts the decisions used to those names (adjudicators included only when
    named, e.g. ``adjudicator:anna``); ``target_lang`` picks the translation shown beside.
    """
    wanted = set(annotators) if annotators else None
    by_segment = _group(store.iter_annotations(), wanted)
    # One pass over all segments rather than ``store.segments(ids)``: an IN list of 100k ids
    # would pass SQLite's limit on bound variables.
    segments = [seg for seg in store.iter_segments() if seg.id in by_segment]
    titles = {sp.id: sp.title for sp in store.speeches()}
    priors = store.prior_annotators()
    gold = GoldSet()
    for seg in sorted(segments, key=lambda s: (s.speech_id, s.position)):
        combined = combine(by_segment[seg.id], priors)
        if combined is None:
            continue
        translations = store.translations(seg.id, target_lang) if seg.language != target_lang else []
        translation = next((t for t in translations if t.provenance != "gloss"), None)
        gloss = next((t for t in translations if t.provenance == "gloss"), None)
        gold.ties.extend(Tie(seg.id, what) for what in combined.ties)
        gold.examples.append(GoldExample(
            segment_id=seg.id, segment_uid=seg.uid, speech_id=seg.speech_id,
            speech_title=titles.get(seg.speech_id, ""), language=seg.language, text=seg.text,
            translation=translation.text if translation else "",
            frames=combined.frames,
            spans=[{"start": s, "end": e, "label": lab, "text": seg.text[s:e]} for s, e, lab in combined.spans],
            annotators=sorted(counted(by_segment[seg.id], priors)),
            source=combined.source, tie=bool(combined.ties), status=combined.status,
            translation_provenance=translation.provenance if translation else "",
            translation_origin=translation.model if translation else "",
            gloss=gloss.text if gloss else "",
        ))
    return gold


# ------------------------------------------------------------------ whole speeches


@dataclass
class SpeechGold:
    """The gold frames of a whole speech, by the same rules as a segment's (a prior only where no
    person decided; adjudicator first, then the single annotator, then the majority; ties
    listed, skipped decisions no gold)."""

    speech_id: int
    speech_key: str  # stable across projects: the start of its content hash (the split keeps its side by it)
    title: str
    language: str
    frames: list[str]
    annotators: list[str]
    source: str  # "adjudicated" | "single" | "majority" | "prior"
    tie: bool = False
    ties: list[str] = field(default_factory=list)


def speech_gold_labels(store: Store, annotators: Sequence[str] | None = None) -> list[SpeechGold]:
    """Gold frames for every speech with a usable decision on it as a whole, by speech id
    (``annotators`` as for :func:`gold_labels`)."""
    wanted = set(annotators) if annotators else None
    by_speech: dict[int, dict[str, SpeechAnnotation]] = {}
    for ann in store.iter_speech_annotations():
        if wanted is None or ann.annotator in wanted:
            by_speech.setdefault(ann.speech_id, {})[ann.annotator] = ann
    speeches = {sp.id: sp for sp in store.speeches() if sp.id in by_speech}
    priors = store.prior_annotators()
    out = []
    for speech_id in sorted(by_speech):
        combined = combine(by_speech[speech_id], priors)
        if combined is None or speech_id not in speeches:
            continue
        sp = speeches[speech_id]
        out.append(SpeechGold(
            speech_id=speech_id, speech_key=speech_key(sp.content_hash), title=sp.title, language=sp.language,
            frames=combined.frames,
            annotators=sorted(counted(by_speech[speech_id], priors)),
            source=combined.source, tie=bool(combined.ties), ties=combined.ties))
    return out

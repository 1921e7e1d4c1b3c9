"""The annotation session: what the annotation UI shows and every decision it makes.

This is the UI's service layer. It never imports Textual and never writes SQL: it calls
``annotator.store.Store`` and hands the UI plain objects (``SegmentView``, ``ListRow``).
Every decision is one ``Store.decide`` call, i.e. one committed transaction, so whatever the
UI shows as saved survives quitting, a crash or ``kill -9``.

Offsets are Python code points throughout (the store's convention); ``annotator.text`` keeps
that true for display (word units, bidi order, visible control characters).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from annotator.errors import AnnotatorError, CannotWriteNow, DatabaseBusy
from annotator.model_kinds import FRAMES, SPANS, TRANSLATION
from annotator.progress import Progress as ProgressCallback
from annotator.schemes import DEFAULT_SPAN_LABEL, Label, Scheme
from annotator.text import visible_text
from annotator.store import (
    Annotation,
    AnnotationState,
    Segment,
    SegmentFilter,
    SpanLabel,
    Speech,
    Store,
    Suggestion,
    Translation,
)
from annotator.thresholds import DEFAULT_THRESHOLD

# Status of a segment for one annotator, as the list shows it.
UNTOUCHED, SUGGESTED = "untouched", "suggested"
OTHERS = "others"  # no decision of one's own, but another annotator's (a colleague, the seed labels)
STATUS_ICONS = {
    UNTOUCHED: "·",
    SUGGESTED: "◇",  # hollow: the machine's; filled: a person's
    OTHERS: "◆",
    "accepted": "✔",
    "corrected": "✎",
    "rejected": "✘",
    "skipped": "»",
    "pending": "⧗",  # decided, not saved yet: the database is busy, or the disk full
}
SAVED, PENDING, UNCHANGED = "saved", "pending", "unchanged"  # what became of a decision
# Why a label has no score, shortly (the frame checklist's row) and in full (its legend).
NEW_LABEL, NOT_KEPT = "new label", "low"
NO_SCORE_REASONS = {
    NEW_LABEL: "the model was trained before this label existed",
    NOT_KEPT: "below the 5 best scores, the only ones earlier suggestion runs kept",
}
RETRAIN_EVERY = 25  # the UI retrains the quick frames models after this many decisions (by default)
DECIDED = ("accepted", "corrected")  # statuses whose stored labels are the working labels


@dataclass(frozen=True)
class ListRow:
    """One line of the segment list."""

    segment_id: int
    speech_id: int
    position: int
    language: str
    status: str
    preview: str


@dataclass(frozen=True)
class Vote:
    """One annotator's decision on a segment, as the adjudication panel and the
    annotation screen (the others' decisions) show it."""

    annotator: str
    status: str
    frames: tuple[str, ...]
    spans: tuple[SpanLabel, ...]
    span_texts: tuple[str, ...]  # the text each span covers, in the same order
    prior: bool = False  # pre-annotations (the seed labels): any person's decision supersedes them


@dataclass(frozen=True)
class FrameRow:
    """One label of the frame checklist."""

    label: Label
    checked: bool
    score: float | None  # the model's score, when it has one for this label
    suggested: bool  # at or above the model's threshold (stored as a suggestion)
    threshold: float | None = None  # the score from which the model ticks it (None: the model lacks the label)
    note: str = ""  # why there is no score, when there is none (a key of NO_SCORE_REASONS)
    chosen_by: tuple[str, ...] = ()  # the other annotators whose decision has this frame


@dataclass(frozen=True)
class GlossHit:
    """A glossary formulation found in the segment: ``source_text`` is the segment's words
    there; ``formulation`` the glossary's phrase, where the words are its rendering (an
    English article's "cyber great power" for 网络强国), else empty."""

    start: int
    end: int
    source_text: str
    rendering: str
    formulation: str = ""


@dataclass(frozen=True)
class SegmentView:
    """Everything the detail pane shows for one segment."""

    segment: Segment
    speech: Speech
    index: int  # position in the current list (-1 if the segment is not in it)
    total: int
    status: str
    frames: tuple[FrameRow, ...]
    spans: tuple[SpanLabel, ...]  # working spans: saved ones, or else the suggested ones
    suggested_spans: tuple[SpanLabel, ...]
    translation: Translation | None
    glossary: tuple[GlossHit, ...]
    margin: float | None  # how far the best frame score is ahead of the next one
    has_suggestions: bool
    pending: bool = False  # a decision on it waits for a busy database (or a full disk)
    others: tuple[Vote, ...] = ()  # the other annotators' decisions (a colleague's, the seed labels)
    before: Segment | None = None  # the segments before and after it in its speech
    after: Segment | None = None
    scores_note: str = ""  # why no label has a score, when none has
    # Where there is no translation: why ("no translation source for bg: …"), or "" (not yet).
    translation_note: str = ""


@dataclass(frozen=True)
class Edit:
    """One key press's change to a decision. It is applied to the decision as stored at the
    moment of writing (inside the write transaction), never to a copy read earlier."""

    segment_id: int  # (for a decision on a whole speech, ``services.speech_session``: the speech's id)
    action: str  # accept | rejected | skipped | toggle | span | unspan | adopt
    label: str = ""
    start: int = 0  # span: start; unspan: the offset whose span goes
    end: int = 0
    state: AnnotationState | None = None  # adopt: the decision taken


@dataclass(frozen=True)
class FrameScoring:
    """The active frames version's view of a segment: each label's score and threshold."""

    scores: dict[str, float]
    thresholds: dict[str, float]
    notes: dict[str, str]  # label -> why it has no score
    version: str  # "" without an active frames model
    note: str  # why no label has a score ("": some have)


@dataclass
class Progress:
    done: int
    total: int
    decisions: int = 0  # decisions made in this session
    started: float = field(default_factory=time.monotonic)

    def rate_per_hour(self, now: float | None = None) -> float:
        elapsed = max((now or time.monotonic()) - self.started, 1.0)
        return self.decisions * 3600.0 / elapsed


def next_state(edit: Edit, current: AnnotationState | None, suggested: AnnotationState,
               frame_order: Callable[[str], int]) -> AnnotationState | None:
    """What ``edit`` makes of the decision ``current`` (``None``: nothing to change), given
    what the models suggest: the rules of every decision, on a segment or on a whole speech
    (whose edits touch frames only). ``frame_order`` sorts the frames as the scheme lists them."""
    working = current if current is not None and current.status in DECIDED else suggested

    def same_as_suggested(state: AnnotationState) -> bool:
        return set(state.frames) == set(suggested.frames) and set(state.spans) == set(suggested.spans)

    if edit.action == "accept":
        return replace(working, status="accepted" if same_as_suggested(working) else "corrected")
    if edit.action in ("rejected", "skipped"):
        return AnnotationState((), (), edit.action)
    if edit.action == "toggle":
        frames = set(working.frames) ^ {edit.label}
        return AnnotationState(tuple(sorted(frames, key=frame_order)), working.spans, "corrected")
    if edit.action == "span":
        kept = tuple(sp for sp in working.spans if sp.end <= edit.start or sp.start >= edit.end)
        spans = tuple(sorted((*kept, SpanLabel(edit.start, edit.end, edit.label)), key=lambda sp: (sp.start, sp.end)))
        return AnnotationState(working.frames, spans, "corrected")
    if edit.action == "unspan":
        kept = tuple(sp for sp in working.spans if not (sp.start <= edit.start < sp.end))
        if len(kept) == len(working.spans):
            return None
        return AnnotationState(working.frames, kept, "corrected")
    if edit.action == "adopt":
        taken = edit.state
        assert taken is not None
        if taken.status == "rejected":
            return AnnotationState((), (), "rejected")
        return AnnotationState(taken.frames, taken.spans, "accepted" if same_as_suggested(taken) else "corrected")
    raise ValueError(f"unknown edit {edit.action!r}")


def refuse_prior_name(store: Store, annotator: str) -> None:
    """A person never works under a name that holds pre-annotations (``seed``, an
    ``import-labels --prior``): their decisions would count as a prior, which anyone's supersedes."""
    if store.is_prior(annotator):
        raise AnnotatorError(f"--annotator {annotator!r} holds pre-annotations in this project (a prior, which "
                             "any person's decision supersedes); annotate under your own name")


class Session:
    """One annotator working through a filtered list of segments."""

    def __init__(self, store: Store, annotator: str, scheme: Scheme, adjudicate: bool = False,
                 wait: float = 0.2) -> None:
        refuse_prior_name(store, annotator)
        self.store = store
        self.wait = wait  # seconds a decision waits for a busy database before it is kept pending
        self.pending: list[Edit] = []  # decisions made while the database could not be written, in order
        self.busy: CannotWriteNow | None = None  # why they are pending: DatabaseBusy or DiskFull
        self.user = annotator  # the person; ``annotator`` is whose decisions are read and written
        self.annotator = annotator
        self.scheme = scheme
        # the project records the schemes its labels follow (name, hash and the TOML itself)
        store.register_scheme(scheme.name, scheme.hash, scheme.source, scheme.toml_text)
        self.adjudicate = False
        self.disputed: set[int] = set()  # adjudication mode: segments shown (disagreements seen so far)
        self.queue_size = len(store.assignments(annotator))
        self.filter = self.default_filter()
        self.low_confidence = False
        self.similar_to: int | None = None  # the list shows the segments most like this one
        self.similarity: dict[int, float] = {}  # their cosine similarity to it
        self.queue_name: str | None = None  # the list is a named queue ("next 50"), in its own order
        self.ids: list[int] = []
        self._position: dict[int, int] = {}
        self._speeches: dict[int, Speech] = {}
        self._rows: dict[int, ListRow] = {}
        self._metas: dict[str, dict] = {}  # model version -> its meta (labels, thresholds)
        self.attempted: set[int] = set()  # segments a suggestion run has looked at
        self.decisions_made = 0  # decisions this session that changed something (saved or pending)
        self.progress = Progress(0, 0)
        if adjudicate:
            self.set_adjudicate(True)
        else:
            self.apply_filter(self.filter, low_confidence=False)
            self.progress = Progress(*self._count())

    # ------------------------------------------------------------------ the list
    def default_filter(self) -> SegmentFilter:
        """The annotator's own queue when work was assigned to them, else every segment."""
        return SegmentFilter(annotator=self.annotator, assigned_to=self.user if self.queue_size else "")

    def _count(self) -> tuple[int, int]:
        if self.adjudicate:
            decided = self.store.statuses(sorted(self.disputed), self.annotator) if self.disputed else {}
            return len(decided), len(self.disputed)
        counts = self.store.counts()
        done = sum(counts["annotators"].get(self.annotator, {}).values())
        return done, counts["segments"]

    def set_adjudicate(self, on: bool) -> list[int]:
        """Enter or leave adjudication mode: the list becomes the segments annotators disagree on,
        and decisions are stored under ``adjudicator:<user>`` (which the gold export prefers)."""
        from annotator.store.gold import adjudicator_name

        self.adjudicate = on
        self.annotator = adjudicator_name(self.user) if on else self.user
        self.disputed = set()
        self.forget()
        flt = replace(self.filter, assigned_to="", status="") if on else self.default_filter()
        ids = self.apply_filter(flt, self.low_confidence)
        self.progress = Progress(*self._count())
        return ids

    def apply_filter(self, flt: SegmentFilter, low_confidence: bool = False) -> list[int]:
        """Select the segments the list shows (ids only: cheap for 100k segments)."""
        self.filter = replace(flt, annotator=self.annotator)
        self.low_confidence = low_confidence
        self.similar_to, self.similarity = None, {}
        self.queue_name = None
        ids = self.store.segment_ids(self.filter)
        if self.adjudicate:
            from annotator.team.assign import disagreements

            # Segments stay listed once adjudicated (so their new status shows); new
            # disagreements join on every refresh.
            self.disputed |= set(disagreements(self.store))
            ids = [i for i in ids if i in self.disputed]
        if low_confidence:
            from annotator.services.suggest import uncertainty_ranked

            ids = uncertainty_ranked(self.store, ids)
        self.ids = ids
        self._position = {sid: i for i, sid in enumerate(ids)}
        return ids

    def show_similar(self, segment_id: int, ranked: Sequence[tuple[int, float]]) -> list[int]:
        """The list becomes the segments like ``segment_id``, nearest first (``ranked``: from
        ``annotator.services.similar.similar_segments``); in adjudication mode, those among the
        disagreements. Any filter (``apply_filter``) returns to a filtered list."""
        ranked = [(i, score) for i, score in ranked if not self.adjudicate or i in self.disputed]
        self.similar_to = segment_id
        self.queue_name = None
        self.similarity = dict(ranked)
        self.ids = [i for i, _ in ranked]
        self._position = {sid: i for i, sid in enumerate(self.ids)}
        return self.ids

    def show_queue(self, name: str, segment_ids: Sequence[int]) -> list[int]:
        """The list becomes these segments in this order (``annotator annotate --queue next:50``:
        from ``annotator.services.suggest.queue_segments``); any filter returns to a filtered list."""
        self.similar_to, self.similarity = None, {}
        self.queue_name = name
        self.ids = list(dict.fromkeys(segment_ids))
        self._position = {sid: i for i, sid in enumerate(self.ids)}
        return self.ids

    def index_of(self, segment_id: int) -> int:
        return self._position.get(segment_id, -1)

    def rows(self, start: int, count: int) -> list[ListRow]:
        """The list rows ``start .. start+count`` (one query per page, cached)."""
        wanted = self.ids[max(start, 0):max(start, 0) + count]
        missing = [i for i in wanted if i not in self._rows]
        if missing:
            statuses = self.store.statuses(missing, self.annotator)
            others = self.store.decided_by_others(missing, self.annotator)
            suggested = self.store.segments_with_suggestions(missing)
            for seg in self.store.segments(missing):
                status = statuses.get(seg.id) or (OTHERS if seg.id in others else
                                                  SUGGESTED if seg.id in suggested else UNTOUCHED)
                if self.pending_on(seg.id):
                    status = PENDING
                preview = visible_text(" ".join(seg.text[:160].split()))
                self._rows[seg.id] = ListRow(seg.id, seg.speech_id, seg.position, seg.language, status, preview)
        return [self._rows[i] for i in wanted if i in self._rows]

    def forget(self, segment_ids: Sequence[int] | None = None) -> None:
        """Drop cached rows (after a decision, or when suggestions arrive)."""
        if segment_ids is None:
            self._rows.clear()
        for sid in segment_ids or ():
            self._rows.pop(sid, None)

    def speech(self, speech_id: int) -> Speech:
        if speech_id not in self._speeches:
            self._speeches[speech_id] = self.store.speech(speech_id)
        return self._speeches[speech_id]

    def next_unannotated(self, after: int) -> int | None:
        """Index of the first undecided segment after list index ``after`` (wrapping)."""
        n = len(self.ids)
        page = 200
        for offset in range(0, n, page):
            chunk = [(after + 1 + offset + k) % n for k in range(min(page, n - offset))]
            ids = [self.ids[i] for i in chunk]
            statuses = self.store.statuses(ids, self.annotator)
            for i, sid in zip(chunk, ids):
                if sid not in statuses:
                    return i
        return None

    def missing_suggestions(self, segment_ids: Sequence[int]) -> list[int]:
        """Of these segments, those with no suggestions that no run has looked at yet."""
        todo = [i for i in segment_ids if i not in self.attempted]
        if not todo:
            return []
        have = self.store.segments_with_suggestions(todo)
        return [i for i in todo if i not in have]

    # ---------------------------------------------------------------- the detail
    def suggested_state(self, segment_id: int) -> AnnotationState:
        """The suggestions as a decision: frames above threshold and suggested spans."""
        items = self.store.suggestions(segment_id)
        frames = tuple(sorted({s.label for s in items if s.kind == "frame"}, key=self._frame_order))
        spans = _merge_spans(SpanLabel(s.start, s.end, s.label) for s in items
                             if s.kind == "span" and s.start is not None and s.end is not None)
        return AnnotationState(frames, spans, "accepted")

    def decision(self, segment_id: int) -> AnnotationState | None:
        """The annotator's decision as the screen shows it: the saved one with the pending
        edits (those waiting for a busy database) applied on top."""
        ann = self.store.annotation(segment_id, self.annotator)
        state = ann.state if ann is not None else None
        for edit in self.pending_on(segment_id):
            state = self._next_state(edit, state) or state
        return state

    def working_state(self, segment_id: int) -> AnnotationState:
        """The labels the annotator is working on: the saved ones, or else the suggestions."""
        state = self.decision(segment_id)
        if state is not None and state.status in DECIDED:
            return state
        return self.suggested_state(segment_id)

    def status(self, segment_id: int) -> str:
        state = self.decision(segment_id)
        if state is not None:
            return state.status
        if self.store.decided_by_others([segment_id], self.annotator):
            return OTHERS
        return SUGGESTED if self.store.segments_with_suggestions([segment_id]) else UNTOUCHED

    def view(self, segment_id: int) -> SegmentView:
        seg = self.store.segment(segment_id)
        before, after = self.store.neighbours(segment_id)
        items = self.store.suggestions(segment_id)
        working = self.working_state(segment_id)
        suggested = self.suggested_state(segment_id)
        scoring = self._frame_scoring(segment_id, items)
        scores = scoring.scores
        suggested_frames = set(suggested.frames)
        others = tuple(self.votes(segment_id))
        frames = tuple(
            FrameRow(lab, lab.id in working.frames, scores.get(lab.id), lab.id in suggested_frames,
                     threshold=scoring.thresholds.get(lab.id), note=scoring.notes.get(lab.id, ""),
                     chosen_by=tuple(v.annotator for v in others if lab.id in v.frames))
            for lab in self.scheme.frames
        )
        top = sorted(scores.values(), reverse=True)
        margin = (top[0] - top[1]) if len(top) >= 2 else (top[0] if top else None)
        translation = self.store.best_translation(segment_id)
        gloss = tuple(
            GlossHit(s.start, s.end, seg.text[s.start:s.end], str(s.extra.get("rendering", "")),
                     str(s.extra.get("formulation", "")) if s.extra.get("matched") in ("rendering", "variant") else "")
            for s in items
            if s.kind == "span" and s.start is not None and s.end is not None and s.extra.get("rendering")
        )
        return SegmentView(
            segment=seg, speech=self.speech(seg.speech_id), index=self.index_of(segment_id),
            total=len(self.ids), status=self.status(segment_id), frames=frames, spans=working.spans,
            suggested_spans=suggested.spans, translation=translation,
            glossary=gloss, margin=margin, has_suggestions=bool(items),
            pending=bool(self.pending_on(segment_id)), others=others,
            before=before, after=after, scores_note=scoring.note,
            translation_note="" if translation is not None else self._missing_translation(seg),
        )

    def _missing_translation(self, seg: Segment) -> str:
        """Why a segment has no translation, when no source can give one: ``suggest`` found
        none (the corpus, an identical segment already translated, the translation model), or
        there is no translation model (glosses stand in for Chinese and Japanese; an identical
        segment's translation, which ``suggest`` copies, is not looked for here: that would
        scan every segment on each move)."""
        from annotator.services.suggest import NO_SOURCE_HINT, translation_sources

        if not seg.language or seg.language == "en":
            return ""
        versions = self.store.active_models()
        model = versions.get(TRANSLATION, "")
        lang = visible_text(seg.language)
        if self.store.untranslatable_with(seg.id) == translation_sources(versions):
            if model:
                return f"no translation source for {lang}: the translation model {visible_text(model)} gives none"
            return f"no translation source for {lang}: {NO_SOURCE_HINT}"
        if model or seg.language in ("zh", "ja"):
            return ""  # `annotator suggest` will fill it
        return f"no translation source for {lang}: {NO_SOURCE_HINT}"

    def _frame_scoring(self, segment_id: int, items: Sequence[Suggestion]) -> FrameScoring:
        """Each frame's score and threshold under the active frames version, and why a label
        has none. Scores: the stored suggestions, then every label's score as the run recorded
        it (``scores``, in the version's label order; runs before that kept only the ``top``
        five). Thresholds: the run's, else the version's meta (as suggestion applies them)."""
        scores = {s.label: s.score for s in items if s.kind == "frame"}
        version = self.store.active_models().get(FRAMES)
        if not version:
            return FrameScoring(scores, {}, {}, "", "no scores: no frames model is active "
                                                    "(annotator models setup, or annotator train)")
        meta = self._model_meta(version)
        labels = [str(label) for label in meta.get("labels") or ()]
        info = self.store.run_info(segment_id, version)
        every = info.get("scores")
        if isinstance(every, list) and len(every) == len(labels):
            for label, score in zip(labels, every):
                scores.setdefault(label, float(score))
        for label, score in info.get("top", []):
            scores.setdefault(label, float(score))
        thresholds = {label: DEFAULT_THRESHOLD for label in labels}
        thresholds.update({k: float(v) for k, v in (meta.get("thresholds") or {}).items()})
        thresholds.update({k: float(v) for k, v in (info.get("thresholds") or {}).items()})
        for label in scores:
            thresholds.setdefault(label, DEFAULT_THRESHOLD)
        notes: dict[str, str] = {}
        if not scores and not self.store.has_run(segment_id, version):
            return FrameScoring(scores, thresholds, notes, version, f"no scores yet: not scored by {version}")
        for lab in self.scheme.frames:
            if lab.id in scores:
                continue
            if labels and lab.id not in labels:
                notes[lab.id] = NEW_LABEL
                thresholds.pop(lab.id, None)
            else:
                notes[lab.id] = NOT_KEPT
        return FrameScoring(scores, thresholds, notes, version, "")

    def _model_meta(self, version: str) -> dict:
        if version not in self._metas:
            self._metas[version] = self.store.model_meta(version)
        return self._metas[version]

    def _frame_order(self, label: str) -> int:
        ids = self.scheme.frame_ids
        return ids.index(label) if label in ids else len(ids)

    # ----------------------------------------------------------------- decisions
    def _decide(self, edit: Edit) -> str:
        """Save one edit now, or keep it pending (in order) while the database cannot be written
        (another process holds the write lock, the disk is full): ``SAVED``, ``PENDING`` or
        ``UNCHANGED``. Never raises ``DatabaseBusy`` or ``DiskFull``."""
        outcome = self._save_or_keep(edit)
        if outcome != UNCHANGED:
            self.decisions_made += 1  # what background retraining counts (ui: every N decisions)
        return outcome

    def _save_or_keep(self, edit: Edit) -> str:
        if self.pending:
            self.pending.append(edit)  # behind the ones already waiting: order is kept
            self.forget([edit.segment_id])  # its row shows it pending
            return PENDING
        try:
            return self._write(edit, self.wait)
        except CannotWriteNow as exc:
            self.busy = exc
            self.pending.append(edit)
            self.forget([edit.segment_id])
            return PENDING

    def _write(self, edit: Edit, wait: float | None) -> str:
        had: list[bool] = []

        def change(current: AnnotationState | None) -> AnnotationState | None:
            # Runs inside the write transaction: the state it starts from is the stored one.
            had.append(current is not None)
            return self._next_state(edit, current)

        uid = self.store.decide_with(edit.segment_id, self.annotator, change, wait=wait)
        if uid is None:
            return UNCHANGED
        if not had[0]:
            self.progress.done += 1
        self.progress.decisions += 1
        self.forget([edit.segment_id])
        return SAVED

    def flush_pending(self, wait: float = 0.0) -> int:
        """Try to save the pending edits, in order; returns how many were saved now."""
        saved = 0
        while self.pending:
            try:
                self._write(self.pending[0], wait)
            except CannotWriteNow as exc:
                self.busy = exc
                return saved
            self.forget([self.pending.pop(0).segment_id])
            saved += 1
        self.busy = None
        return saved

    def _next_state(self, edit: Edit, current: AnnotationState | None) -> AnnotationState | None:
        """What ``edit`` makes of the decision ``current`` (``None``: nothing to change)."""
        return next_state(edit, current, self.suggested_state(edit.segment_id), self._frame_order)

    def pending_on(self, segment_id: int) -> list[Edit]:
        return [e for e in self.pending if e.segment_id == segment_id]

    def accept(self, segment_id: int) -> str:
        """Save the working labels: ``accepted`` if they are the suggestions, else ``corrected``."""
        return self._decide(Edit(segment_id, "accept"))

    def reject(self, segment_id: int) -> str:
        return self._decide(Edit(segment_id, "rejected"))

    def skip(self, segment_id: int) -> str:
        return self._decide(Edit(segment_id, "skipped"))

    def toggle_frame(self, segment_id: int, label: str) -> str:
        """Add or remove a frame; saved at once as ``corrected`` so nothing shown is unsaved."""
        if self.scheme.frame(label) is None:
            raise ValueError(f"unknown frame {label!r} in scheme {self.scheme.name!r}")
        return self._decide(Edit(segment_id, "toggle", label=label))

    def set_span(self, segment_id: int, start: int, end: int, label: str | None = None) -> str:
        """Add a span, or resize the span(s) it overlaps to exactly ``start..end``."""
        text = self.store.segment(segment_id).text
        if not (0 <= start < end <= len(text)):
            raise ValueError(f"span {start}-{end} is outside the segment (0-{len(text)})")
        label = label or (self.scheme.span_ids[0] if self.scheme.spans else DEFAULT_SPAN_LABEL)
        return self._decide(Edit(segment_id, "span", label=label, start=start, end=end))

    def remove_span_at(self, segment_id: int, offset: int) -> str | None:
        """Remove the span covering code point ``offset``; ``None`` if there is none."""
        if not any(sp.start <= offset < sp.end for sp in self.working_state(segment_id).spans):
            return None
        return self._decide(Edit(segment_id, "unspan", start=offset))

    def votes(self, segment_id: int) -> list[Vote]:
        """The other annotators' decisions on a segment (skipped ones are no vote), people first,
        then adjudicators, then pre-annotations (the seed labels: ``prior``); the adjudicator's
        own decision is the working state, not a vote.
        The annotation screen shows them beside the suggestions; adjudication sets them side by side."""
        from annotator.store.gold import is_adjudicator

        text = self.store.segment(segment_id).text
        priors = self.store.prior_annotators()
        anns = [a for a in self.store.annotations_for(segment_id)
                if a.annotator != self.annotator and a.state.status != "skipped"]
        anns.sort(key=lambda a: (a.annotator in priors, is_adjudicator(a.annotator), a.annotator))
        return [_vote(a, text, a.annotator in priors) for a in anns]

    def adopt(self, segment_id: int, annotator: str) -> str:
        """Make ``annotator``'s decision this session's decision (the adjudicator picks a side)."""
        ann = self.store.annotation(segment_id, annotator)
        if ann is None or ann.state.status == "skipped":
            raise ValueError(f"{annotator!r} has no decision on segment {segment_id}")
        return self._decide(Edit(segment_id, "adopt", state=ann.state))

    def undo(self) -> int | None:
        """Undo the latest decision; one still pending (not saved yet) is simply dropped.
        Raises ``DatabaseBusy`` if the database is busy, ``DiskFull`` if the disk is (nothing
        changes then)."""
        if self.pending:
            edit = self.pending.pop()
            self.forget([edit.segment_id])
            if not self.pending:
                self.busy = None
            return edit.segment_id
        return self._history_step(self.store.undo)

    def redo(self) -> int | None:
        if self.pending:  # decisions wait to be saved: redo would come before them
            raise self.busy.with_traceback(None) if self.busy is not None else DatabaseBusy()
        return self._history_step(self.store.redo)

    def _history_step(self, step: Callable[..., int | None]) -> int | None:
        segment_id = step(self.annotator, wait=self.wait)
        if segment_id is not None:
            self.forget([segment_id])
            self.progress.done, _ = self._count()
        return segment_id

    # -------------------------------------------------------------------- lookup
    def languages(self) -> list[str]:
        return sorted(k for k in self.store.counts()["languages"] if k and k != "?")

    def speeches(self) -> list[Speech]:
        return self.store.speeches()

    def has_segment(self, segment_id: int) -> bool:
        return bool(self.store.segments([segment_id]))


def retrain(store: Store, scheme: Scheme, kinds: Sequence[str] = (FRAMES, SPANS), base: str | None = None,
            method: str = "auto", progress: ProgressCallback | None = None) -> list[tuple[str, str]]:
    """Train new model versions on the project's gold labels and make them active where they
    score at least as well (call from a worker thread with its own store). Frames: the quick
    models, the one best on dev (``method="auto"``: seconds, not minutes), or one ``method``;
    spans: the quick tagger, or the fine-tuned one with ``method="finetune"`` (minutes).
    Returns per kind a one-line note (the new score against the previous version's) and the
    full account (each candidate, sizes, time)."""
    from annotator.services.training import choice_line, train_frames_choosing, train_kind

    told = []
    for kind in kinds:
        if kind == FRAMES and method == "auto":
            outcomes, chosen = train_frames_choosing(store, scheme, base=base, progress=progress)
            told.append((chosen.note(), chosen.headline() + "\n" + choice_line(outcomes, chosen)))
        else:
            outcome = train_kind(store, scheme, kind, base=base, method=method, progress=progress)
            told.append((outcome.note(), outcome.headline()))
    return told


def engine_notes() -> list[str]:
    """What the inference engine has to say since it was last asked: each model that runs in
    PyTorch rather than int8, and why (``ml.engine``)."""
    from annotator.ml.engine import notes

    return notes()


def compute_suggestions(store: Store, segment_ids: Sequence[int]) -> int:
    """Run the active models over these segments (call from a worker thread with its own store).

    Returns how many segments were handled.
    """
    from annotator.services.suggest import suggest_segments

    if not segment_ids:
        return 0
    return int(suggest_segments(store, list(segment_ids)))


def _vote(ann: Annotation, text: str, prior: bool = False) -> Vote:
    spans = () if ann.state.status == "rejected" else tuple(ann.state.spans)
    frames = () if ann.state.status == "rejected" else tuple(ann.state.frames)
    return Vote(ann.annotator, ann.state.status, frames, spans, tuple(text[s.start:s.end] for s in spans), prior)


def _merge_spans(spans) -> tuple[SpanLabel, ...]:
    """Suggested spans without duplicates or overlaps (model and glossary may agree)."""
    out: list[SpanLabel] = []
    for span in sorted(set(spans), key=lambda s: (s.start, -(s.end - s.start))):
        if out and span.start < out[-1].end:
            continue
        out.append(span)
    return tuple(out)

"""Merging another annotator's project database into this one.

Speeches are matched by content hash, segments by uid, history entries by uid, so merging the
same file twice adds nothing. Nothing either side decided is lost: every history entry of both
sides is kept, for the decisions on segments and those on whole speeches alike. Where both sides
hold a *current* decision by the same annotator on the same segment or speech and they differ,
the later ``updated_at`` wins, the other remains in the history, and the pair is reported as a
:class:`Conflict`. A phrase both glossaries render differently keeps ours and is reported as a
:class:`GlossaryConflict`.

Each other file is read whole first, within bounds (:class:`ReadLimits`), and every row of it
checked (:mod:`annotator.team.merge_rows`), before this project's write lock is taken: a file
that cannot be read or holds one bad row is refused in one line, and nobody waits on it. The
whole merge (of one or several files) is then one transaction.

Undo: wherever the other file holds a current decision by an annotator (brought in, the same as
ours, or set against ours), that annotator's entries on that segment or speech leave this
project's undo stack, so no undo or redo here ever changes what a merge settled.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.errors import AnnotatorError, shown
from annotator.store import AnnotationState, Store
from annotator.store import team_queries as q
from annotator.store.db import disk_error
from annotator.store.decision_log import SEGMENT_DECISIONS, SPEECH_DECISIONS, DecisionLog, DecisionTables
from annotator.store.records import state_from_row
from annotator.store.team_queries import ReadLimits
from annotator.team.merge_rows import check_rows

__all__ = ["Conflict", "GlossaryConflict", "MergeReport", "ReadLimits", "merge_databases"]

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Conflict:
    kind: str  # "segment" | "speech": what the decisions are on
    item_uid: str  # the segment's uid, or the speech's content hash
    item_id: int  # its id here
    annotator: str
    ours: AnnotationState
    theirs: AnnotationState
    kept: str  # "ours" | "theirs"
    source: str  # the file merged in


@dataclass(frozen=True)
class GlossaryConflict:
    """A phrase both glossaries hold with different official renderings: ours stays."""

    source_text: str
    language: str
    ours: str
    theirs: str
    source: str  # the file merged in


@dataclass
class MergeReport:
    speeches: int = 0
    segments: int = 0
    translations: int = 0
    glossary: int = 0
    annotations_added: int = 0
    annotations_replaced: int = 0
    speech_decisions_added: int = 0  # decisions on whole speeches
    speech_decisions_replaced: int = 0
    history: int = 0  # entries of both kinds of decision
    assignments: int = 0
    split_sides: int = 0  # speeches whose train/dev/test side came from the other project
    split_sides_differing: int = 0  # placed on another side there: ours kept
    priors: int = 0  # annotator names that hold pre-annotations there, now here too
    conflicts: list[Conflict] = field(default_factory=list)  # new ones: not met in an earlier merge
    conflicts_seen_before: int = 0
    glossary_conflicts: list[GlossaryConflict] = field(default_factory=list)  # told at every merge

    def added_anything(self) -> bool:
        return any((self.speeches, self.segments, self.translations, self.glossary, self.annotations_added,
                    self.annotations_replaced, self.speech_decisions_added, self.speech_decisions_replaced,
                    self.history, self.assignments, self.split_sides, self.priors))

    def line(self) -> str:
        speech_decisions = self.speech_decisions_added or self.speech_decisions_replaced
        return (f"merged: {self.speeches} speeches, {self.segments} segments, {self.translations} translations, "
                f"{self.glossary} glossary entries, {self.annotations_added} decisions added, "
                f"{self.annotations_replaced} replaced by later ones, "
                + (f"{self.speech_decisions_added} decisions on whole speeches added, "
                   f"{self.speech_decisions_replaced} replaced by later ones, " if speech_decisions else "")
                + f"{self.history} history entries, {self.assignments} assignments"
                + (f", {self.split_sides} speeches' split sides" if self.split_sides else "")
                + (f" ({self.split_sides_differing} on another side there: ours kept)"
                   if self.split_sides_differing else "")
                + (f", {self.priors} names of pre-annotations (a prior)" if self.priors else "")
                + f"; {len(self.conflicts)} conflicts"
                + (f" ({self.conflicts_seen_before} more met in an earlier merge)"
                   if self.conflicts_seen_before else "")
                + (f"; {len(self.glossary_conflicts)} glossary phrases rendered otherwise there (ours kept)"
                   if self.glossary_conflicts else ""))


def _same(a: AnnotationState, b: AnnotationState) -> bool:
    return (a.status, sorted(a.frames), sorted(a.spans, key=lambda s: (s.start, s.end, s.label))) == \
           (b.status, sorted(b.frames), sorted(b.spans, key=lambda s: (s.start, s.end, s.label)))


def _merge_speeches(store: Store, other: Rows, report: MergeReport) -> dict[int, int]:
    ours = q.speech_ids_by_hash(store)
    id_map = {}
    for row in other["speeches"]:
        if row["content_hash"] not in ours:
            ours[row["content_hash"]] = q.insert_speech(store, row)
            report.speeches += 1
        id_map[row["id"]] = ours[row["content_hash"]]
    return id_map


def _merge_segments(store: Store, other: Rows, speech_map: dict[int, int], source: Path,
                    report: MergeReport) -> tuple[dict[int, int], dict[int, str]]:
    ours = q.segments_by_uid(store)
    id_map, uids = {}, {}
    for row in other["segments"]:
        if row["uid"] in ours:
            our_id, our_text = ours[row["uid"]]
            if our_text != row["text"]:
                # Same speech, different segmentation: their offsets would point at other text.
                raise AnnotatorError(f"{shown(source)}: segment {shown(row['uid'])} has other text than here "
                                     "(segmented by another version?); nothing was merged")
        else:
            our_id = q.insert_segment(store, row, speech_map[row["speech_id"]])
            report.segments += 1
        id_map[row["id"]] = our_id
        uids[row["id"]] = row["uid"]
    return id_map, uids


def _merge_translations(store: Store, other: Rows, seg_map: dict[int, int], report: MergeReport) -> None:
    for row in other["translations"]:
        segment_id = seg_map[row["segment_id"]]
        have = q.translation(store, segment_id, row["target_lang"], row["provenance"], row["model"])
        if have is None or (have["text"] != row["text"] and row["created_at"] > have["created_at"]):
            q.put_translation(store, row, segment_id)
            report.translations += 1


def _merge_glossary(store: Store, other: Rows, source: Path, report: MergeReport) -> None:
    ours = q.glossary_renderings(store)
    for row in other["glossary"]:
        mine = ours.get((row["source_text"], row["language"]))
        if mine is None:
            report.glossary += int(q.insert_glossary(store, row))
        elif mine != row["rendering"]:
            report.glossary_conflicts.append(
                GlossaryConflict(row["source_text"], row["language"], mine, row["rendering"], str(source)))


@dataclass(frozen=True)
class _Kind:
    """One kind of decision as a merge meets it: its tables here, its rows there."""

    name: str  # "segment" | "speech"
    tables: DecisionTables
    decisions: str  # the other file's tables
    history: str


_KINDS = (_Kind("segment", SEGMENT_DECISIONS, "annotations", "annotation_history"),
          _Kind("speech", SPEECH_DECISIONS, "speech_annotations", "speech_annotation_history"))


def _merge_decisions(store: Store, other: Rows, kind: _Kind, item_map: dict[int, int], uids: dict[int, str],
                     source: Path, report: MergeReport) -> None:
    t = kind.tables
    known = q.history_uids(store, t)
    for row in other[kind.history]:
        if row["uid"] not in known:
            report.history += int(q.insert_history(store, t, row, item_map[row[t.item]]))
    log = DecisionLog(store.db, t)
    added = replaced = 0
    # Wherever the other project holds a decision, by a name: whatever the outcome below, undo
    # and redo here must not change it (ours would come back, or theirs, at the next merge).
    log.release((item_map[row[t.item]], row["annotator"]) for row in other[kind.decisions])
    for row in other[kind.decisions]:
        item = item_map[row[t.item]]
        mine = q.decision_row(store, t, item, row["annotator"])
        theirs = state_from_row(row)
        if mine is None:
            q.put_decision(store, t, row, item)
            added += 1
            continue
        ours = state_from_row(mine)
        if _same(ours, theirs):
            continue
        kept = "theirs" if row["updated_at"] > mine["updated_at"] else "ours"
        conflict = Conflict(kind.name, uids[row[t.item]], item, row["annotator"], ours, theirs, kept, str(source))
        # Recorded once (its uid is derived from what it records): merging the same file again,
        # where our later decision stays, is not the same conflict told twice.
        if q.record_conflict(store, t, _conflict_uid(conflict, mine["updated_at"], row["updated_at"]), conflict):
            report.conflicts.append(conflict)
        else:
            report.conflicts_seen_before += 1
        if kept == "theirs":
            q.put_decision(store, t, row, item)
            replaced += 1
            # A 'merge' entry records the switch, so the history explains the current decision.
            # Its uid is derived from what it records: merging again cannot add it twice.
            uid = "merge-" + hashlib.sha256(json.dumps(
                [uids[row[t.item]], row["annotator"], row["updated_at"], theirs.to_json(), ours.to_json()]
            ).encode()).hexdigest()[:32]
            entry = {"uid": uid, "annotator": row["annotator"], "action": "merge", "ref_uid": None,
                     "state": theirs.to_json(), "before": ours.to_json(), "created_at": row["updated_at"]}
            report.history += int(q.insert_history(store, t, entry, item))
    if kind.name == "segment":
        report.annotations_added += added
        report.annotations_replaced += replaced
    else:
        report.speech_decisions_added += added
        report.speech_decisions_replaced += replaced


def _conflict_uid(c: Conflict, our_time: str, their_time: str) -> str:
    # (the segments' form is the one earlier versions recorded: a conflict they told stays told)
    key = [c.item_uid, c.annotator, c.ours.to_json(), our_time, c.theirs.to_json(), their_time]
    return "conflict-" + hashlib.sha256(json.dumps(key if c.kind == "segment" else [c.kind, *key]).encode()
                                        ).hexdigest()[:32]


def _merge_priors(store: Store, other: Rows, path: Path) -> int:
    """The other project's pre-annotation names become priors here too (so its imports marked
    ``--prior`` stay a prior); a name that is a prior on one side and a person's on the other
    stops the merge. Returns how many names are new priors here."""
    theirs, ours = {r["annotator"] for r in other["prior_annotators"]}, store.prior_annotators()
    for name in sorted(theirs - ours):
        if store.has_decisions(name):
            raise AnnotatorError(f"{shown(path)}: {name!r} holds pre-annotations there but a person's decisions "
                                 "here; nothing was merged")
    deciding = {r["annotator"] for table in ("annotations", "speech_annotations") for r in other[table]}
    clash = sorted((ours - theirs) & deciding)
    if clash:
        raise AnnotatorError(f"{shown(path)}: {clash[0]!r} holds a person's decisions there but pre-annotations "
                             "here; nothing was merged")
    return sum(store.add_prior(name, f"merged from {path.name}") for name in sorted(theirs - ours))


def _merge_one(store: Store, other: Rows, path: Path, report: MergeReport) -> None:
    try:
        report.priors += _merge_priors(store, other, path)
        speech_map = _merge_speeches(store, other, report)
        seg_map, uids = _merge_segments(store, other, speech_map, path, report)
        _merge_translations(store, other, seg_map, report)
        for row in other["speech_translations"]:  # so that a speech new here can be aligned again
            q.insert_speech_translation(store, row, speech_map[row["speech_id"]])
        _merge_glossary(store, other, path, report)
        speech_hashes = {row["id"]: row["content_hash"] for row in other["speeches"]}
        _merge_decisions(store, other, _KINDS[0], seg_map, uids, path, report)
        _merge_decisions(store, other, _KINDS[1], speech_map, speech_hashes, path, report)
        # The split holds across merged projects: a speech the colleague tests on is not trained
        # on here (where both placed it, ours stays).
        theirs, ours = {r["speech_hash"]: r["side"] for r in other["split_sides"]}, store.split_sides()
        report.split_sides_differing += sum(1 for h, side in theirs.items() if h in ours and ours[h] != side)
        report.split_sides += store.record_split_sides({h: s for h, s in theirs.items() if h not in ours})
        for row in other["assignments"]:
            report.assignments += int(q.insert_assignment(store, seg_map[row["segment_id"]], row["annotator"],
                                                          row["created_at"]))
    except sqlite3.DatabaseError as exc:
        if disk_error(exc):  # this project's disk, not the other file: store.write() says so
            raise
        raise AnnotatorError(f"{shown(path)}: cannot merge ({exc}); nothing was merged") from None


def read_checked(path: str | Path, limits: ReadLimits = ReadLimits()) -> Rows:
    """Another project's rows, read within ``limits`` and every one checked; one line otherwise."""
    path = Path(path)
    other = q.read_other(path, limits)
    check_rows(other, path)
    return other


def merge_databases(store: Store, others: Sequence[str | Path], limits: ReadLimits = ReadLimits()) -> MergeReport:
    """Bring other project databases into ``store`` in one transaction; returns what was added.

    Every file is read and checked before the write lock is taken; one that fails merges
    nothing, nor do the others."""
    report = MergeReport()
    own = store.path.resolve() if store.path else None
    paths = [Path(p) for p in others]
    for path in paths:
        if own is not None and path.exists() and path.resolve() == own:
            raise AnnotatorError(f"{shown(path)}: is this project's own database; give another one to merge")
    read = [(path, read_checked(path, limits)) for path in paths]
    with store.write():
        for path, other in read:
            _merge_one(store, other, path, report)
    return report

"""Merging another annotator's project database into this one.

Speeches are matched by content hash, segments by uid, history entries by uid, so merging the
same file twice adds nothing. Nothing either side decided is lost: every history entry of both
sides is kept. Where both sides hold a *current* decision by the same annotator on the same
segment and they differ, the later ``updated_at`` wins, the other remains in the history, and the
pair is reported as a :class:`Conflict`. The whole merge (of one or several files) is one
transaction; the other files are opened read-only.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from annotator.errors import AnnotatorError, shown
from annotator.store import AnnotationState, Store
from annotator.store import team_queries as q
from annotator.store.records import state_from_row


@dataclass(frozen=True)
class Conflict:
    segment_uid: str
    segment_id: int
    annotator: str
    ours: AnnotationState
    theirs: AnnotationState
    kept: str  # "ours" | "theirs"
    source: str  # the file merged in


@dataclass
class MergeReport:
    speeches: int = 0
    segments: int = 0
    translations: int = 0
    glossary: int = 0
    annotations_added: int = 0
    annotations_replaced: int = 0
    history: int = 0
    assignments: int = 0
    split_sides: int = 0  # speeches whose train/dev/test side came from the other project
    split_sides_differing: int = 0  # placed on another side there: ours kept
    priors: int = 0  # annotator names that hold pre-annotations there, now here too
    conflicts: list[Conflict] = field(default_factory=list)  # new ones: not met in an earlier merge
    conflicts_seen_before: int = 0

    def added_anything(self) -> bool:
        return any((self.speeches, self.segments, self.translations, self.glossary, self.annotations_added,
                    self.annotations_replaced, self.history, self.assignments, self.split_sides, self.priors))

    def line(self) -> str:
        return (f"merged: {self.speeches} speeches, {self.segments} segments, {self.translations} translations, "
                f"{self.glossary} glossary entries, {self.annotations_added} decisions added, "
                f"{self.annotations_replaced} replaced by later ones, {self.history} history entries, "
                f"{self.assignments} assignments"
                + (f", {self.split_sides} speeches' split sides" if self.split_sides else "")
                + (f" ({self.split_sides_differing} on another side there: ours kept)"
                   if self.split_sides_differing else "")
                + (f", {self.priors} names of pre-annotations (a prior)" if self.priors else "")
                + f"; {len(self.conflicts)} conflicts"
                + (f" ({self.conflicts_seen_before} more met in an earlier merge)" if self.conflicts_seen_before else ""))


def _same(a: AnnotationState, b: AnnotationState) -> bool:
    return (a.status, sorted(a.frames), sorted(a.spans, key=lambda s: (s.start, s.end, s.label))) == \
           (b.status, sorted(b.frames), sorted(b.spans, key=lambda s: (s.start, s.end, s.label)))


def _merge_speeches(store: Store, conn: Database, report: MergeReport) -> dict[int, int]:
    ours = q.speech_ids_by_hash(store)
    id_map = {}
    for row in q.other_speeches(conn):
        if row["content_hash"] not in ours:
            ours[row["content_hash"]] = q.insert_speech(store, row)
            report.speeches += 1
        id_map[row["id"]] = ours[row["content_hash"]]
    return id_map


def _merge_segments(store: Store, conn: Database, speech_map: dict[int, int], source: Path,
                    report: MergeReport) -> tuple[dict[int, int], dict[int, str]]:
    ours = q.segments_by_uid(store)
    id_map, uids = {}, {}
    for row in q.other_segments(conn):
        if row["uid"] in ours:
            our_id, our_text = ours[row["uid"]]
            if our_text != row["text"]:
                # Same speech, different segmentation: their offsets would point at other text.
                raise AnnotatorError(f"{shown(source)}: segment {row['uid']} has other text than here (segmented by "
                                     "another version?); nothing was merged")
        else:
            our_id = q.insert_segment(store, row, speech_map[row["speech_id"]])
            report.segments += 1
        id_map[row["id"]] = our_id
        uids[row["id"]] = row["uid"]
    return id_map, uids


def _merge_translations(store: Store, conn: Database, seg_map: dict[int, int], report: MergeReport) -> None:
    for row in q.other_translations(conn):
        segment_id = seg_map[row["segment_id"]]
        have = q.translation(store, segment_id, row["target_lang"], row["provenance"], row["model"])
        if have is None or (have["text"] != row["text"] and row["created_at"] > have["created_at"]):
            q.put_translation(store, row, segment_id)
            report.translations += 1


def _merge_annotations(store: Store, conn: Database, seg_map: dict[int, int], uids: dict[int, str],
                       source: Path, report: MergeReport) -> None:
    for row in q.other_annotations(conn):
        segment_id = seg_map[row["segment_id"]]
        mine = q.annotation_row(store, segment_id, row["annotator"])
        theirs = state_from_row(row)
        if mine is None:
            q.put_annotation(store, row, segment_id)
            report.annotations_added += 1
            continue
        ours = state_from_row(mine)
        if _same(ours, theirs):
            continue
        kept = "theirs" if row["updated_at"] > mine["updated_at"] else "ours"
        conflict = Conflict(uids[row["segment_id"]], segment_id, row["annotator"], ours, theirs, kept, str(source))
        # Recorded once (its uid is derived from what it records): merging the same file again,
        # where our later decision stays, is not the same conflict told twice.
        if q.record_conflict(store, _conflict_uid(conflict, mine["updated_at"], row["updated_at"]), conflict):
            report.conflicts.append(conflict)
        else:
            report.conflicts_seen_before += 1
        if kept == "theirs":
            q.put_annotation(store, row, segment_id)
            report.annotations_replaced += 1
            # A 'merge' entry records the switch, so the history explains the current decision.
            # Its uid is derived from what it records: merging again cannot add it twice.
            uid = "merge-" + hashlib.sha256(json.dumps(
                [uids[row["segment_id"]], row["annotator"], row["updated_at"], theirs.to_json(), ours.to_json()]
            ).encode()).hexdigest()[:32]
            entry = {"uid": uid, "annotator": row["annotator"], "action": "merge", "ref_uid": None,
                     "state": theirs.to_json(), "before": ours.to_json(), "created_at": row["updated_at"]}
            report.history += int(q.insert_history(store, entry, segment_id))


def _conflict_uid(c: Conflict, our_time: str, their_time: str) -> str:
    return "conflict-" + hashlib.sha256(json.dumps(
        [c.segment_uid, c.annotator, c.ours.to_json(), our_time, c.theirs.to_json(), their_time]).encode()).hexdigest()[:32]


def _merge_priors(store: Store, conn: Database, path: Path) -> int:
    """The other project's pre-annotation names become priors here too (so its imports marked
    ``--prior`` stay a prior); a name that is a prior on one side and a person's on the other
    stops the merge. Returns how many names are new priors here."""
    theirs, ours = q.other_priors(conn), store.prior_annotators()
    for name in sorted(theirs - ours):
        if store.has_decisions(name):
            raise AnnotatorError(f"{shown(path)}: {name!r} holds pre-annotations there but a person's decisions "
                                 "here; nothing was merged")
    for name in sorted(ours - theirs):
        if q.other_has_decisions(conn, name):
            raise AnnotatorError(f"{shown(path)}: {name!r} holds a person's decisions there but pre-annotations "
                                 "here; nothing was merged")
    return sum(store.add_prior(name, f"merged from {path.name}") for name in sorted(theirs - ours))


def _merge_one(store: Store, path: Path, report: MergeReport) -> None:
    conn = q.open_read_only(path)
    try:
        q.check_intact(conn, path)  # a truncated or damaged file would merge half its rows
        report.priors += _merge_priors(store, conn, path)
        speech_map = _merge_speeches(store, conn, report)
        seg_map, uids = _merge_segments(store, conn, speech_map, path, report)
        _merge_translations(store, conn, seg_map, report)
        for row in q.other_speech_translations(conn):  # so that a speech new here can be aligned again
            q.insert_speech_translation(store, row, speech_map[row["speech_id"]])
        report.glossary += sum(q.insert_glossary(store, row) for row in q.other_glossary(conn))
        known = q.history_uids(store)
        for row in q.other_history(conn):
            if row["uid"] not in known:
                report.history += int(q.insert_history(store, row, seg_map[row["segment_id"]]))
        _merge_annotations(store, conn, seg_map, uids, path, report)
        # The split holds across merged projects: a speech the colleague tests on is not trained
        # on here (where both placed it, ours stays).
        theirs, ours = q.other_split_sides(conn), store.split_sides()
        report.split_sides_differing += sum(1 for h, side in theirs.items() if h in ours and ours[h] != side)
        report.split_sides += store.record_split_sides({h: s for h, s in theirs.items() if h not in ours})
        for row in q.other_assignments(conn):
            report.assignments += int(q.insert_assignment(store, seg_map[row["segment_id"]], row["annotator"],
                                                          row["created_at"]))
    except sqlite3.DatabaseError as exc:
        raise AnnotatorError(f"{shown(path)}: cannot merge ({exc}); nothing was merged") from None
    except (KeyError, ValueError, TypeError) as exc:  # rows that no version of annotator writes
        raise AnnotatorError(f"{shown(path)}: cannot merge (unexpected content: {exc!r}); nothing was merged") from None
    finally:
        conn.close()


def merge_databases(store: Store, others: Sequence[str | Path]) -> MergeReport:
    """Bring other project databases into ``store`` in one transaction; returns what was added."""
    report = MergeReport()
    own = store.path.resolve() if store.path else None
    paths = [Path(p) for p in others]
    for path in paths:
        if own is not None and path.exists() and path.resolve() == own:
            raise AnnotatorError(f"{shown(path)}: is this project's own database; give another one to merge")
    with store.write():
        for path in paths:
            _merge_one(store, path, report)
    return report

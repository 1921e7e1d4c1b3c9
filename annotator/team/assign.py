"""Sharing out unlabelled segments among annotators, with some double-annotated for agreement.

Whole speeches stay with one annotator where possible: reading a speech from the start makes
frames easier to judge. A speech longer than an even share is cut into contiguous pieces so the
work stays balanced. The double-annotated part is a run of whole speeches (the last one possibly
cut) in an order fixed by the seed, each given to the two least-loaded annotators.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from annotator.errors import AnnotatorError
from annotator.store import Store
from annotator.store import team_queries as q
from annotator.store.gold import is_adjudicator, is_vote, labels_of


@dataclass
class AssignmentPlan:
    pairs: list[tuple[int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    double: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.segments} unlabelled segments shared out, {self.double} of them to two annotators"]
        out += [f"  {name:<20} {n}" for name, n in self.counts.items()]
        return out


def parse_annotators(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise AnnotatorError("--annotators: give at least one name, e.g. --annotators anna,ben")
    if len(set(names)) != len(names):
        raise AnnotatorError(f"--annotators {text!r}: a name appears twice")
    bad = [n for n in names if is_adjudicator(n)]
    if bad:
        raise AnnotatorError(f"--annotators: {bad[0]!r} is an adjudicator name; assign work to annotators")
    return names


def _units(segments: Sequence[tuple[int, int, int]], overlap: float, seed: int,
           n_annotators: int) -> tuple[list[tuple[list[int], bool]], int]:
    """Contiguous runs of segment ids, each either single or double, and the double count."""
    speeches: dict[int, list[int]] = {}
    for seg_id, speech_id, _ in segments:
        speeches.setdefault(speech_id, []).append(seg_id)
    order = sorted(speeches)
    random.Random(seed).shuffle(order)
    flat = [(seg, sp) for sp in order for seg in speeches[sp]]
    n_double = round(overlap * len(flat))
    cap = max(1, math.ceil((len(flat) + n_double) / n_annotators))
    runs: list[tuple[list[int], bool]] = []
    for i, (seg, sp) in enumerate(flat):
        double = i < n_double
        if runs and runs[-1][1] == double and flat[i - 1][1] == sp and len(runs[-1][0]) < cap:
            runs[-1][0].append(seg)
        else:
            runs.append(([seg], double))
    return runs, n_double


def plan_assignments(segments: Sequence[tuple[int, int, int]], annotators: Sequence[str], overlap: float = 0.1,
                     seed: int = 0) -> AssignmentPlan:
    """Who gets which segment (pure). ``segments``: (segment id, speech id, position)."""
    if not 0 <= overlap <= 1:
        raise AnnotatorError(f"--overlap {overlap}: give a fraction between 0 and 1, e.g. 0.1")
    if overlap > 0 and len(annotators) < 2:
        raise AnnotatorError("--overlap needs at least two annotators (a segment is given to two of them)")
    runs, n_double = _units(segments, overlap, seed, len(annotators))
    load = {name: 0 for name in annotators}
    rank = {name: i for i, name in enumerate(annotators)}
    plan = AssignmentPlan(segments=len(segments), double=n_double)
    # Largest runs first, each to the least-loaded annotator(s): keeps loads within one run.
    for ids, double in sorted(runs, key=lambda r: -len(r[0])):
        takers = sorted(annotators, key=lambda n: (load[n], rank[n]))[: 2 if double else 1]
        for name in takers:
            load[name] += len(ids)
            plan.pairs.extend((seg, name) for seg in ids)
    plan.counts = load
    plan.pairs.sort()
    return plan


def assign_work(store: Store, annotators: Sequence[str], overlap: float = 0.1, seed: int = 0,
                dry_run: bool = False) -> AssignmentPlan:
    """Share out the segments no person has decided on (seed labels and other pre-annotations
    are no one's decision) or been given yet, and record it."""
    priors = store.prior_annotators()
    bad = [n for n in annotators if n in priors]
    if bad:
        raise AnnotatorError(f"--annotators: {bad[0]!r} holds pre-annotations (a prior) in this project; "
                             "assign work to people")
    plan = plan_assignments(q.unlabelled_segments(store), annotators, overlap, seed)
    if not dry_run and plan.pairs:
        store.assign(plan.pairs)
    return plan


def disagreements(store: Store) -> list[int]:
    """Segments where two or more people's labels differ and no adjudicator has decided yet
    (a person against the seed labels or another prior is no disagreement: the person's decision
    is the gold one)."""
    labels: dict[int, list[tuple[frozenset, frozenset]]] = {}
    adjudicated: set[int] = set()
    priors = store.prior_annotators()
    for ann in store.iter_annotations():
        if ann.state.status == "skipped":
            continue
        if is_adjudicator(ann.annotator):
            adjudicated.add(ann.segment_id)
            continue
        if not is_vote(ann.annotator, ann.state, priors):
            continue
        frames, spans = labels_of(ann.state)
        labels.setdefault(ann.segment_id, []).append((frozenset(frames), frozenset(spans)))
    return sorted(seg for seg, votes in labels.items()
                  if seg not in adjudicated and len(votes) >= 2 and len(set(votes)) > 1)

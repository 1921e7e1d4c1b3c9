"""Team work: agreement figures, merging databases, assigning work, concurrent writers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sqlite3

import pytest
from click.testing import CliRunner

from _team_fixtures import add_speech, build_corpus, build_project, decide_many, english_segments
from annotator.cli import cli
from annotator.errors import AnnotatorError
from annotator.store import AnnotationState, GlossaryEntry, SpanLabel, Store
from annotator.store.gold import adjudicator_name, is_adjudicator
from annotator.team.agreement import agreement
from annotator.team.assign import assign_work, disagreements, plan_assignments
from annotator.team.merge import merge_databases


def test_adjudicator_names():
    assert is_adjudicator("adjudicator:anna") and not is_adjudicator("anna")
    assert adjudicator_name("anna") == "adjudicator:anna" == adjudicator_name("adjudicator:anna")


# ---------------------------------------------------------------- agreement


def _two_annotator_case(store: Store) -> list[int]:
    """Four English segments labelled by a and b (plus decisions that must not count)."""
    build_corpus(store, 2, 1)
    seg = [s.id for s in store.iter_segments()]
    econ, pol = ("Economic",), ("Political",)
    a = [(econ, (SpanLabel(0, 5),)), (econ, (SpanLabel(2, 6),)), (pol, ()), ((), ())]
    b = [(econ, (SpanLabel(0, 3),)), ((), (SpanLabel(2, 6),)), (pol, ()), ((), ())]
    for i in range(4):
        store.decide(seg[i], "a", AnnotationState(a[i][0], a[i][1], "accepted"))
        store.decide(seg[i], "b", AnnotationState(b[i][0], b[i][1], "accepted" if b[i][0] or b[i][1] else "rejected"))
    # None of these may change the figures: an adjudicator, a skip, a segment only a labelled.
    store.decide(seg[0], "adjudicator:z", AnnotationState(("Morality",), (), "corrected"))
    store.decide(seg[4], "a", AnnotationState(("Morality",), (), "accepted"))
    store.decide(seg[4], "b", AnnotationState((), (), "skipped"))
    store.decide(seg[6], "a", AnnotationState(("Economic",), (), "accepted"))  # the Chinese speech
    return seg


def test_agreement_matches_a_hand_computation(store):
    _two_annotator_case(store)
    report = agreement(store)
    o = report["overall"]
    assert o["segments"] == 4 and o["annotators"] == ["a", "b"] and o["labels"] == ["Economic", "Political"]
    # Economic: a = 1 1 0 0, b = 1 0 0 0.
    #   Cohen: p_o = 3/4; p_e = P(a=1)P(b=1) + P(a=0)P(b=0) = 1/2*1/4 + 1/2*3/4 = 1/2;
    #          kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5.
    #   Krippendorff (nominal): 8 pairable values, n1 = 3, n0 = 5; coincidences o10 = o01 = 1
    #          (the one disagreeing unit), so D_o = 2/8; D_e = 2*n1*n0 / (n(n-1)) = 30/56;
    #          alpha = 1 - (2/8)/(30/56) = 1 - 14/30 = 8/15.
    # Political: a = b = 0 0 1 0: kappa = 1, alpha = 1.
    # Overall: alpha over each annotator's set of frames per segment (MASI distance): a = {E} {E}
    #   {P} {}, b = {E} {} {P} {}. Values: {E} 3, {} 3, {P} 2 (n = 8); any two distinct sets here
    #   are disjoint, MASI 1. One disagreeing unit: D_o = 2/8; D_e = 2*(3*3 + 3*2 + 3*2)/(8*7) = 3/4;
    #   alpha = 1 - (1/4)/(3/4) = 2/3.
    assert o["alpha"]["per_label"]["Economic"] == pytest.approx(8 / 15)
    assert o["alpha"]["per_label"]["Political"] == pytest.approx(1.0)
    assert o["alpha"]["overall"] == pytest.approx(2 / 3)
    assert o["alpha"]["per_label_segments"] == {"Economic": 2, "Political": 1}
    pair = o["pairs"]["a|b"]
    assert pair["kappa"]["segments"] == 4
    assert pair["kappa"]["per_label"] == {"Economic": pytest.approx(0.5), "Political": pytest.approx(1.0)}
    assert pair["kappa"]["mean"] == pytest.approx(0.75)
    # Spans: a = {0-5} {2-6}, b = {0-3} {2-6}. Exact: 1 of 2 each side, F1 = 0.5.
    # Partial (SemEval): P = (3/3 + 4/4)/2 = 1 (b's spans lie inside a's), R = (3/5 + 4/4)/2 = 0.8,
    #   F1 = 2*1*0.8/1.8 = 8/9.
    assert pair["spans"]["exact_f1"] == pytest.approx(0.5)
    assert pair["spans"]["partial_f1"] == pytest.approx(8 / 9)
    # Only English segments are shared, so English equals overall and Chinese is absent.
    assert list(report["by_language"]) == ["en"]
    assert report["by_language"]["en"]["alpha"]["overall"] == pytest.approx(2 / 3)


# Krippendorff's own examples, from the ``krippendorff`` package's documentation (``alpha``'s
# docstring): Krippendorff (2011), "Computing Krippendorff's alpha-reliability", and page 8 of
# the paper statisticshowto links to.
NAN = float("nan")
KRIPPENDORFF_2011 = [[NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
                     [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
                     [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]
FOUR_CODERS = [[1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
               [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
               [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
               [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN]]


def _as_sets(matrix) -> list[dict[str, frozenset]]:
    """Coders x units of single values as units of {coder: {value}}."""
    units = []
    for j in range(len(matrix[0])):
        units.append({f"c{i}": frozenset([row[j]]) for i, row in enumerate(matrix) if row[j] == row[j]})
    return units


@pytest.mark.parametrize("matrix, expected", [(KRIPPENDORFF_2011, 0.691358), (FOUR_CODERS, 0.743)])
def test_alpha_reproduces_krippendorffs_own_examples(matrix, expected):
    """The nominal alpha per label and the set alpha overall (single labels: MASI is the nominal
    distance) give the figures the krippendorff package documents; so does the fast form the
    bootstrap uses."""
    import numpy as np

    from annotator.team.agreement import krippendorff_alpha, resampled_alphas, set_alpha

    digits = len(str(expected).split(".")[1])
    assert round(krippendorff_alpha(np.array(matrix, dtype=float)), digits) == expected
    units = _as_sets(matrix)
    assert round(set_alpha(units), digits) == expected
    assert round(float(resampled_alphas(units, np.ones((1, len(units))))[0]), digits) == expected


def test_pooling_labels_no_longer_makes_agreement_out_of_disagreement():
    """Each label's alpha is zero or below; pooling every (segment, label) pair into one yes/no
    variable, as the overall figure once did, gave +0.271 here (the labels' different
    frequencies counted as chance disagreement). Over the annotators' sets it is below zero too."""
    from annotator.team.agreement import agreement_figures

    a = [{"Political"}, {"Morality"}, {"Morality", "Political"}, {"Economic"}, {"Morality"}, {"Morality"}]
    b = [{"Morality"}, {"Morality"}, {"Morality"}, {"Morality"}, set(), {"Morality"}]
    decisions = {i: {"a": (x, set()), "b": (y, set())} for i, (x, y) in enumerate(zip(a, b))}
    alpha = agreement_figures(decisions)["alpha"]
    assert alpha["per_label"] == {"Economic": pytest.approx(0.0), "Morality": pytest.approx(-2 / 9),
                                  "Political": pytest.approx(-0.1)}
    assert alpha["overall"] == pytest.approx(-0.1524, abs=1e-4)
    low, high = alpha["overall_ci95"]
    assert low <= alpha["overall"] <= high


def test_agreement_cli_json_and_table(db_path):
    store = Store.open(db_path)
    _two_annotator_case(store)
    store.close()
    runner = CliRunner()
    as_json = runner.invoke(cli, ["agreement", "--json", "--db", str(db_path)])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["overall"]["mean_kappa"] == pytest.approx(0.75)
    table = runner.invoke(cli, ["agreement", "--db", str(db_path)])
    assert "Krippendorff" in table.output and "a|b" in table.output and "0.533  n=2  too few to judge" in table.output
    assert "warning: only 4 shared segments: too few for these figures to mean much" in table.output
    assert "overall 0.667 (95 % interval" in table.output
    # the export's ties, counted the export's way and said to be labels, not segments
    from annotator.export import export_gold

    store = Store.open(db_path)
    report = export_gold(store, "jsonl", None, db_path.parent / "exports")
    store.close()
    assert (f"the export's {report.ties} tie{' is a label' if report.ties == 1 else 's are labels'} chosen by "
            "exactly half of the annotators, in "
            f"{report.summary['segments_with_ties']} of these segments (1 adjudicated, which have none)") in table.output
    assert data["export"] == {"ties": report.ties, "segments_with_ties": report.summary["segments_with_ties"],
                              "adjudicated": 1}


def test_agreement_with_one_annotator_says_so(db_path):
    store = Store.open(db_path)
    build_corpus(store, 1, 0)
    store.decide(1, "a", AnnotationState(("Economic",), (), "accepted"))
    store.close()
    result = CliRunner().invoke(cli, ["agreement", "--db", str(db_path)])
    assert result.exit_code == 0 and "two or more annotators" in result.output


# ---------------------------------------------------------------- disagreements


def test_disagreements_for_adjudication(store):
    ids = build_project(store)
    # 'agree' has the same labels (accepted vs corrected is no disagreement); 'adjudicated' is settled.
    assert disagreements(store) == [ids["tie_frame"], ids["tie_reject"]]
    store.decide(ids["tie_frame"], "adjudicator:carla", AnnotationState(("Economic",), (), "corrected"))
    assert disagreements(store) == [ids["tie_reject"]]


# ---------------------------------------------------------------- concurrency


def test_two_processes_writing_at_once_lose_nothing(db_path):
    store = Store.open(db_path)  # create and migrate before the writers start
    build_corpus(store, 2, 0)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    n = 150
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=decide_many, args=(str(db_path), name, n, barrier)) for name in ("p1", "p2")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    store = Store.open(db_path)
    assert len(store.history(annotator="p1")) == n and len(store.history(annotator="p2")) == n
    assert store.db.execute("SELECT COUNT(*) FROM annotation_history").fetchone()[0] == 2 * n
    assert store.db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0] == 2 * 6
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # The writers really overlapped: the history switches between them more than once.
    order = [r[0] for r in store.db.execute("SELECT annotator FROM annotation_history ORDER BY id")]
    assert sum(1 for x, y in zip(order, order[1:]) if x != y) > 1


# ---------------------------------------------------------------- merge


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _counts(store: Store) -> dict[str, int]:
    tables = ("speeches", "segments", "translations", "glossary", "annotations", "annotation_history", "assignments")
    return {t: store.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def two_projects(tmp_path):
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    build_corpus(a, 2, 0)
    build_corpus(b, 2, 0)
    extra = add_speech(b, "Only in B", "en", english_segments(99))
    s1, s2, s3 = 1, 2, 3
    a.decide(s1, "ann", AnnotationState(("Economic",), (), "accepted"))
    b.decide(s1, "ann", AnnotationState(("Political",), (SpanLabel(0, 24),), "corrected"))  # later: B wins
    b.decide(s2, "ann", AnnotationState(("Morality",), (), "accepted"))
    a.decide(s2, "ann", AnnotationState(("Economic",), (), "accepted"))  # later: A keeps its own
    b.decide(s3, "bob", AnnotationState(("Health_and_safety",), (), "accepted"))
    b.decide(s3, "bob", AnnotationState(("Quality_of_life",), (), "corrected"))
    b.undo("bob")
    new_seg = b.segments_of_speech(extra)[0].id
    b.decide(new_seg, "bob", AnnotationState((), (), "rejected"))
    b.add_translation(s1, "fr", "Rendre sa grandeur à l'Amérique", "human")
    b.add_glossary([GlossaryEntry("网络强国", "zh", "cyber great power")])
    b.assign([(new_seg, "bob")])
    a.decide(4, "carla", AnnotationState(("Political",), (), "accepted"))
    b.close()
    yield a, tmp_path / "b.db", new_seg
    a.close()


def test_merge_brings_everything_and_keeps_the_later_decision(two_projects):
    a, b_path, new_seg = two_projects
    b_hash = _sha(b_path)
    b_history = Store.open(b_path).history()
    before = _counts(a)
    report = merge_databases(a, [b_path])
    assert (report.speeches, report.segments, report.translations, report.glossary) == (1, 3, 1, 1)
    assert report.assignments == 1
    conflicts = {(c.segment_id, c.annotator): c.kept for c in report.conflicts}
    assert conflicts == {(1, "ann"): "theirs", (2, "ann"): "ours"}
    assert a.annotation(1, "ann").state.frames == ("Political",)
    assert a.annotation(2, "ann").state.frames == ("Economic",)
    assert a.annotation(3, "bob").state.frames == ("Health_and_safety",)  # after B's undo
    assert a.annotation(4, "carla").state.frames == ("Political",)
    merged_new = a.segment_ids()[-3]
    assert a.segment(merged_new).text == english_segments(99)[0]
    assert a.annotation(merged_new, "bob").state.status == "rejected"
    # Nothing lost: every history entry of both sides is here (+1 'merge' entry for segment 1).
    ours_uids = {h["uid"] for h in a.history()}
    assert {h["uid"] for h in b_history} <= ours_uids
    after = _counts(a)
    assert after["annotation_history"] == before["annotation_history"] + len(b_history) + 1
    frames_seen = {h["state"].frames for h in a.history(segment_id=1, annotator="ann") if h["state"]}
    assert {("Economic",), ("Political",)} <= frames_seen
    assert a.best_translation(1, "fr").text.startswith("Rendre")
    assert _sha(b_path) == b_hash  # the other side was only read


def test_merge_twice_adds_nothing(two_projects):
    a, b_path, _ = two_projects
    merge_databases(a, [b_path])
    counts = _counts(a)
    again = merge_databases(a, [b_path])
    assert not again.added_anything()
    assert _counts(a) == counts
    # The decision A kept still differs from B's, and is still kept; but that conflict was told
    # by the first merge: the second one reports nothing new.
    assert again.conflicts == [] and again.conflicts_seen_before == 1
    assert again.line().endswith("0 conflicts (1 more met in an earlier merge)")
    assert a.annotation(2, "ann").state.frames == ("Economic",)


def test_merge_of_a_truncated_file_is_one_line_and_changes_nothing(two_projects, tmp_path):
    a, b_path, _ = two_projects
    source = sqlite3.connect(b_path)
    source.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    source.close()
    data = b_path.read_bytes()  # the other project's file, not ours: reading it is safe
    counts = _counts(a)
    for cut in (0.1, 0.5, 0.9):  # each loses pages that hold rows (the header is whole)
        truncated = tmp_path / f"cut-{cut}.db"
        truncated.write_bytes(data[:int(len(data) * cut)])
        result = CliRunner().invoke(cli, ["merge", str(truncated), "--db", str(a.path)])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and "is damaged (truncated or corrupt" in result.stderr
        assert "Traceback" not in result.output
    assert _counts(a) == counts


def test_merge_cli_and_refusals(two_projects, tmp_path):
    a, b_path, _ = two_projects
    a_path = a.path
    runner = CliRunner()
    result = runner.invoke(cli, ["merge", str(b_path), "--db", str(a_path)])
    assert result.exit_code == 0, result.output
    assert "2 conflicts" in result.output and "kept theirs" in result.output
    own = runner.invoke(cli, ["merge", str(a_path), "--db", str(a_path)])
    assert own.exit_code == 2 and "own database" in own.stderr
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.commit()
    other = runner.invoke(cli, ["merge", str(plain), "--db", str(a_path)])
    assert other.exit_code == 2 and "not an annotator project" in other.stderr


def test_merge_is_one_transaction(tmp_path):
    a = Store.open(tmp_path / "a.db")
    build_corpus(a, 1, 0)
    b = Store.open(tmp_path / "b.db")
    add_speech(b, "new", "en", ["A new speech.", "With two parts."])
    # Same speech hash as A's speech, but segmented differently: their offsets would not fit ours.
    speech = a.speech(1, with_text=True)
    b.add_speech({"content_hash": speech.content_hash, "text": speech.text, "language": "en"},
                 [{"start": 0, "end": 10, "text": speech.text[:10]}])
    b.close()
    before = _counts(a)
    with pytest.raises(AnnotatorError, match="other text than here"):
        merge_databases(a, [tmp_path / "b.db"])
    assert _counts(a) == before  # the new speech merged before the error was rolled back too


# ---------------------------------------------------------------- assign


def test_assign_keeps_speeches_together_with_the_asked_overlap(store):
    build_corpus(store, 8, 2)
    for seg in store.segments_of_speech(1):
        store.decide(seg.id, "ann", AnnotationState(("Economic",), (), "accepted"))
    plan = assign_work(store, ["a", "b", "c"], overlap=0.2, seed=1)
    assert plan.segments == 27 and plan.double == round(0.2 * 27)
    pairs = store.assignments()
    assert len(pairs) == 27 + plan.double == sum(plan.counts.values())
    who: dict[int, set[str]] = {}
    for seg, name in pairs:
        who.setdefault(seg, set()).add(name)
    labelled = {s.id for s in store.segments_of_speech(1)}
    assert not labelled & set(who) and len(who) == 27
    assert sum(1 for names in who.values() if len(names) == 2) == plan.double
    assert max(plan.counts.values()) - min(plan.counts.values()) <= 3
    for speech in store.speeches()[1:]:
        singles = {next(iter(who[s.id])) for s in store.segments_of_speech(speech.id) if len(who[s.id]) == 1}
        assert len(singles) <= 1, speech.title  # a speech's single-annotated part has one reader
    assert assign_work(store, ["a", "b", "c"], overlap=0.2, seed=1).segments == 0  # all given out


def test_assign_plan_is_seeded_and_checks_its_input():
    segments = [(i, i // 4, i % 4) for i in range(40)]
    first = plan_assignments(segments, ["a", "b"], 0.1, seed=3)
    assert first.pairs == plan_assignments(segments, ["a", "b"], 0.1, seed=3).pairs
    # 10 speeches of 4: one speech (4 = 10 %) goes to both, the other 9 whole to one each (5 + 4).
    assert first.double == 4 and sorted(first.counts.values()) == [4 + 4 * 4, 4 + 5 * 4]
    with pytest.raises(AnnotatorError, match="at least two annotators"):
        plan_assignments(segments, ["a"], 0.1)
    with pytest.raises(AnnotatorError, match="between 0 and 1"):
        plan_assignments(segments, ["a", "b"], 1.5)
    assert len(plan_assignments(segments, ["a"], 0.0).pairs) == 40


def test_assign_cli_prints_counts_and_dry_run_records_nothing(db_path):
    store = Store.open(db_path)
    build_corpus(store, 4, 0)
    store.close()
    runner = CliRunner()
    dry = runner.invoke(cli, ["assign", "--annotators", "a,b", "--overlap", "0.5", "--dry-run", "--db", str(db_path)])
    assert dry.exit_code == 0, dry.output
    assert "12 unlabelled segments" in dry.output and "dry run" in dry.output
    assert Store.open(db_path).assignments() == []
    real = runner.invoke(cli, ["assign", "--annotators", "a,b", "--overlap", "0.5", "--db", str(db_path)])
    assert real.exit_code == 0 and "a " in real.output
    assert len(Store.open(db_path).assignments()) == 18
    bad = runner.invoke(cli, ["assign", "--annotators", "a,adjudicator:x", "--db", str(db_path)])
    assert bad.exit_code == 2 and "adjudicator" in bad.stderr


def test_undo_after_merge_follows_only_this_projects_own_decisions(tmp_path):
    """ann works on two machines; merging the other one's database must not make undo take
    back a decision made there, nor delete ann's current decision here."""
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    build_corpus(a, 2, 0)
    build_corpus(b, 2, 0)
    a.decide(1, "ann", AnnotationState(("Economic",), (), "accepted"))
    a.decide(2, "ann", AnnotationState(("Morality",), (), "corrected"))
    b.decide(3, "ann", AnnotationState(("Political",), (), "corrected"))
    b.decide(1, "ann", AnnotationState(("Health_and_safety",), (), "corrected"))  # later: wins on merge
    b.close()
    merge_databases(a, [tmp_path / "b.db"])
    assert a.annotation(1, "ann").state.frames == ("Health_and_safety",)

    assert a.undo("ann") == 2  # ann's own latest decision here, not the merged ones
    assert a.annotation(2, "ann") is None
    assert a.annotation(3, "ann").state.frames == ("Political",)
    # ann's decision on segment 1 was replaced by the merged, later one: nothing to take back
    assert a.undo("ann") is None
    assert a.annotation(1, "ann").state.frames == ("Health_and_safety",)
    assert a.redo("ann") == 2
    assert a.annotation(2, "ann").state.frames == ("Morality",)
    a.close()


def _vm_steps(store: Store, call) -> int:
    """SQLite virtual-machine instructions a call executes (in hundreds): a count, not a time."""
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    store.db.conn.set_progress_handler(tick, 100)
    try:
        call()
    finally:
        store.db.conn.set_progress_handler(None, 100)
    return steps[0]


def test_undo_costs_the_same_at_any_history_size():
    small, big = Store.in_memory(), Store.in_memory()
    for store, decisions in ((small, 10), (big, 4000)):
        build_corpus(store, 2, 0)
        ids = store.segment_ids()
        for k in range(decisions):
            store.decide(ids[k % len(ids)], "ann", AnnotationState((f"F{k}",), (), "corrected"))
    cost = {}
    for name, store in (("small", small), ("big", big)):
        cost[name] = (_vm_steps(store, lambda: store.undo("ann")), _vm_steps(store, lambda: store.redo("ann")))
    assert cost["big"][0] <= cost["small"][0] * 1.5 + 2, cost
    assert cost["big"][1] <= cost["small"][1] * 1.5 + 2, cost

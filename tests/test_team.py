"""Team work: agreement figures, merging databases, assigning work, concurrent writers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
import sqlite3

import pytest
from click.testing import CliRunner

from _team_fixtures import add_speech, build_corpus, build_project, decide_many, english_segments
from annotator.cli import cli
from annotator.errors import AnnotatorError
from annotator.store import AnnotationState, GlossaryEntry, SpanLabel, Store
from annotator.store import team_queries as q
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
    conflicts = {(c.item_id, c.annotator): c.kept for c in report.conflicts}
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


# ---------------------------------------------------------------- merge: what a colleague's file holds


def _craft(path, *statements: str) -> None:
    """Change the colleague's file behind annotator's back, as a damaged or crafted copy would be."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA ignore_check_constraints = ON")
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()


@pytest.fixture
def colleague(tmp_path):
    """Our project, and a colleague's file with the same speeches and one decision of bob's."""
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    build_corpus(a, 2, 0)
    build_corpus(b, 2, 0)
    b.decide(1, "bob", AnnotationState(("Political",), (SpanLabel(0, 24),), "corrected"))
    b.decide_speech(1, "bob", AnnotationState(("Economic",), (), "corrected"))
    b.close()
    yield a, tmp_path / "b.db"
    a.close()


def _refused_in_one_line(a: Store, b_path, message: str) -> None:
    result = CliRunner().invoke(cli, ["merge", str(b_path), "--db", str(a.path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_merge_brings_decisions_on_whole_speeches_with_their_conflicts(tmp_path):
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    build_corpus(a, 2, 0)
    build_corpus(b, 2, 0)
    a.decide_speech(1, "ann", AnnotationState(("Political",), (), "corrected"))
    b.decide_speech(1, "ann", AnnotationState(("Economic",), (), "corrected"))  # later: B's wins
    b.decide_speech(2, "bob", AnnotationState(("Morality",), (), "accepted"))
    b.decide_speech(2, "bob", AnnotationState(("Morality", "Economic"), (), "corrected"))
    b.undo_speech("bob")
    b.decide_speech(2, "carla", AnnotationState(("Political",), (), "accepted"))
    a.decide_speech(2, "carla", AnnotationState((), (), "rejected"))  # later: ours stays
    b_history = {h["uid"] for h in b.speech_history()}
    b.close()
    report = merge_databases(a, [tmp_path / "b.db"])
    assert a.speech_annotation(2, "bob").state.frames == ("Morality",)
    assert a.speech_annotation(1, "ann").state.frames == ("Economic",)
    assert a.speech_annotation(2, "carla").state.status == "rejected"
    assert (report.speech_decisions_added, report.speech_decisions_replaced) == (1, 1)
    assert [(c.kind, c.item_id, c.annotator, c.kept) for c in report.conflicts] == [
        ("speech", 1, "ann", "theirs"), ("speech", 2, "carla", "ours")]
    assert "1 decisions on whole speeches added, 1 replaced by later ones" in report.line()
    assert b_history <= {h["uid"] for h in a.speech_history()}
    # ours stays in the history, and a 'merge' entry says why the decision changed
    assert [h["action"] for h in a.speech_history(1, "ann")] == ["decide", "decide", "merge"]
    again = merge_databases(a, [tmp_path / "b.db"])
    assert not again.added_anything() and again.conflicts == [] and again.conflicts_seen_before == 1
    a.close()


def test_undo_after_merge_never_changes_a_decision_the_other_copy_holds(tmp_path):
    """ann's name in both copies: what both hold (the same decision, or two of which the merge
    kept one) is no longer hers to undo here; only what this copy alone holds is."""
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    build_corpus(a, 2, 0)
    build_corpus(b, 2, 0)
    same = AnnotationState(("Economic",), (), "accepted")
    a.decide(1, "ann", same)
    b.decide(1, "ann", same)
    b.decide(2, "ann", AnnotationState(("Morality",), (), "corrected"))
    a.decide(2, "ann", AnnotationState(("Political",), (), "corrected"))  # later: ours kept
    a.decide(3, "ann", AnnotationState(("Health_and_safety",), (), "corrected"))  # only here
    a.decide_speech(1, "ann", AnnotationState(("Political",), (), "accepted"))
    b.decide_speech(1, "ann", AnnotationState(("Political",), (), "accepted"))
    b.close()
    merge_databases(a, [tmp_path / "b.db"])

    assert a.undo("ann") == 3 and a.annotation(3, "ann") is None
    assert a.undo("ann") is None
    assert a.annotation(1, "ann").state == same
    assert a.annotation(2, "ann").state.frames == ("Political",)
    assert a.redo("ann") == 3 and a.redo("ann") is None
    assert a.undo_speech("ann") is None
    assert a.speech_annotation(1, "ann").state.frames == ("Political",)
    # a decision made after the merge is hers to undo again
    a.decide(1, "ann", AnnotationState(("Morality",), (), "corrected"))
    assert a.undo("ann") == 1 and a.annotation(1, "ann").state == same
    a.close()


ENDLESS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)"


@pytest.mark.parametrize("statements, message", [
    (["DROP TABLE split_sides",
      f"CREATE VIEW split_sides AS {ENDLESS} SELECT hex(i) AS speech_hash, 'train' AS side FROM n"],
     "split_sides is a view, not a table as annotator makes it"),
    (["DROP TABLE assignments",
      f"CREATE VIEW Assignments AS {ENDLESS} SELECT 1 AS segment_id, 'x' AS annotator, '' AS created_at FROM n"],
     "assignments is a view, not a table as annotator makes it"),
    (["DROP TABLE assignments", "CREATE VIRTUAL TABLE assignments USING fts5(segment_id, annotator, created_at)"],
     "assignments is a virtual table"),
    (["DROP TABLE split_sides", "CREATE TABLE split_sides (speech_hash TEXT PRIMARY KEY, "
      "side TEXT GENERATED ALWAYS AS (hex(zeroblob(100))))"],
     "column side of table split_sides is computed, not stored"),
    (["DROP TABLE split_sides", "CREATE TABLE split_sides (speech_hash TEXT PRIMARY KEY, side TEXT) WITHOUT ROWID"],
     "split_sides is a table without rowid"),
    (["ALTER TABLE assignments DROP COLUMN created_at"], "table assignments has no column created_at"),
])
def test_a_crafted_schema_is_refused_before_the_write_lock(colleague, statements, message):
    """A view over an endless query in place of a table once ran for ever while the merge held
    this project's write lock. Now the schema is checked first, and the lock is never taken:
    another process holds it here all along, and the refusal still comes, not 'busy'."""
    a, b_path = colleague
    _craft(b_path, *statements)
    counts = _counts(a)
    holder = sqlite3.connect(a.path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        a.db.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(AnnotatorError, match=re.escape(message)):
            merge_databases(a, [b_path])
    finally:
        holder.rollback()
        holder.close()
    _refused_in_one_line(a, b_path, message)
    assert _counts(a) == counts


def test_another_process_decides_while_a_merge_reads(colleague, monkeypatch):
    """The colleague's file is read before the write lock is taken: meanwhile a decision made
    elsewhere in this project is saved at once (no waiting: ``wait=0``), and both stay."""
    from annotator.store import team_queries

    a, b_path = colleague
    read = team_queries.read_other

    def read_while_ann_decides(path, limits):
        rows = read(path, limits)
        elsewhere = Store.open(a.path)
        elsewhere.decide_with(2, "ann", lambda _: AnnotationState(("Morality",), (), "corrected"), wait=0)
        elsewhere.close()
        return rows

    monkeypatch.setattr(team_queries, "read_other", read_while_ann_decides)
    assert merge_databases(a, [b_path]).annotations_added == 1
    assert a.annotation(2, "ann").state.frames == ("Morality",)
    assert a.annotation(1, "bob").state.frames == ("Political",)


def test_a_huge_value_is_refused_within_the_bounds(colleague):
    """A 2 MB blob (a crafted file held 300 MB and ended in a MemoryError): not text where a
    speech's licence is; over a lower bound on one value, SQLite itself refuses to read it."""
    from annotator.team.merge import ReadLimits

    a, b_path = colleague
    _craft(b_path, "UPDATE speeches SET licence = zeroblob(2000000) WHERE id = 2")
    counts = _counts(a)
    _refused_in_one_line(a, b_path, "speeches row 2: licence is not text: 2000000 bytes of binary data")
    with pytest.raises(AnnotatorError, match="table speeches holds a value over 1 MiB, more than a merge reads"):
        merge_databases(a, [b_path], ReadLimits(value_bytes=2**20))
    assert _counts(a) == counts


@pytest.mark.parametrize("limits, message", [
    ({"rows": 102}, "table segments has 306 rows, more than a merge reads (102)"),
    ({"row_bytes": 100}, "a row of"),
    ({"total_bytes": 500}, "the tables hold more than a merge reads (500 bytes)"),
    ({"seconds": 0}, "took longer than 0 s"),  # SQLite stops the statement at its next check
])
def test_merge_reads_within_its_bounds(colleague, limits, message):
    from annotator.team.merge import ReadLimits

    a, b_path = colleague
    b = Store.open(b_path)
    for i in range(100, 200):  # enough rows that reading them takes a few thousand steps
        add_speech(b, f"speech {i}", "en", english_segments(i))
    b.close()
    counts = _counts(a)
    with pytest.raises(AnnotatorError, match=re.escape(message)):
        merge_databases(a, [b_path], ReadLimits(**limits))
    assert _counts(a) == counts
    assert merge_databases(a, [b_path]).annotations_added == 1  # within the usual bounds it merges


@pytest.mark.parametrize("statements, message", [
    (["UPDATE annotations SET frames = '\"Political\"'"], "annotations row 1: frames is not a list of names"),
    (["UPDATE annotations SET spans = '[{\"start\": -5, \"end\": 99999, \"label\": \"Slogan\"}]'"],
     "annotations row 1: invalid span -5-99999 (the segment has 41 characters)"),
    (["UPDATE annotations SET status = 'maybe'"], "annotations row 1: unknown annotation status 'maybe'"),
    (["UPDATE annotations SET segment_id = 99"], "annotations row 1: segment_id 99 names no segment in the file"),
    (["INSERT INTO annotation_history (uid, segment_id, annotator, action, state, created_at) "
      "VALUES ('x', 2, 'bob', 'decide', '{\"frames\": [', '2025-01-01T00:00:00+00:00')"],
     "annotation_history row 2: state is not valid JSON"),
    (["UPDATE speech_annotations SET frames = '[1, 2]'"], "speech_annotations row 1: frames is not a list of names"),
    (["INSERT INTO speech_annotation_history (uid, speech_id, annotator, action, state, created_at) VALUES "
      "('y', 1, 'bob', 'decide', '{\"frames\": [], \"spans\": [{\"start\": 0, \"end\": 3}], \"status\": "
      "\"accepted\"}', '2025-01-01T00:00:00+00:00')"],
     "speech_annotation_history row 2: state: a decision on a whole speech has frames, not spans"),
    (["UPDATE annotations SET updated_at = 'soon'"], "annotations row 1: updated_at is not a time: 'soon'"),
    (["UPDATE annotations SET annotator = 'b' || char(0) || 'ob'"],
     "annotations row 1: annotator 'b\\x00ob' holds a NUL character (U+0000) at character 2"),
])
def test_a_bad_row_refuses_the_merge_naming_it(colleague, statements, message):
    """Each row merged passes the checks a decision made in the screen passes; one that does
    not (frames once became single letters, a span -5..99999 was stored, a history entry broke
    ``Store.history()``) refuses the whole file."""
    a, b_path = colleague
    _craft(b_path, *statements)
    counts = _counts(a)
    with pytest.raises(AnnotatorError, match=re.escape(message)):
        merge_databases(a, [b_path])
    _refused_in_one_line(a, b_path, message)
    assert _counts(a) == counts
    a.history()  # still reads


def test_a_project_of_the_first_version_still_merges(tmp_path):
    """The checks take an older project as it is: no speech tables, assignments, split sides,
    glossary variants or alignment columns (schema step 1 only)."""
    from sqlite_utils import Database

    from annotator.store.db import configure
    from annotator.store.schema import SCHEMA_STEPS, migrations

    db = Database(str(tmp_path / "old.db"))
    configure(db)
    migrations.apply(db, stop_before=SCHEMA_STEPS[1])
    text = "Old speech here."
    db["speeches"].insert({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text,
                           "imported_at": "2020"})
    db["segments"].insert({"uid": "h:0", "speech_id": 1, "position": 0, "start": 0, "end": 16, "text": text,
                           "language": "en"})
    db["translations"].insert({"segment_id": 1, "target_lang": "fr", "text": "Vieux discours.",
                               "provenance": "human", "created_at": "2020-01-01T00:00:00+00:00"})
    db["glossary"].insert({"source_text": "旧", "language": "zh", "rendering": "old"})
    state = AnnotationState(("Economic",), (SpanLabel(0, 3),), "corrected")
    db["annotations"].insert({"segment_id": 1, "annotator": "ann", "frames": '["Economic"]',
                              "spans": '[{"start": 0, "end": 3, "label": "Slogan"}]', "status": "corrected",
                              "created_at": "2020-01-01T00:00:00+00:00", "updated_at": "2020-01-01T00:00:00+00:00"})
    db["annotation_history"].insert({"uid": "u1", "segment_id": 1, "annotator": "ann", "action": "decide",
                                     "state": state.to_json(), "created_at": "2020-01-01T00:00:00+00:00"})
    db.close()
    a = Store.open(tmp_path / "a.db")
    report = merge_databases(a, [tmp_path / "old.db"])
    assert (report.speeches, report.segments, report.translations, report.glossary) == (1, 1, 1, 1)
    assert report.annotations_added == 1 and report.history == 1
    merged = a.segment_ids()[-1]
    assert a.annotation(merged, "ann").state == state
    a.close()


def test_a_glossary_phrase_rendered_otherwise_there_is_a_conflict(tmp_path):
    a, b = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    forged = "中国梦\nFORGED LINE"  # a phrase that would print a line of its own
    a.add_glossary([GlossaryEntry("网络强国", "zh", "cyberpower"), GlossaryEntry(forged, "zh", "Chinese Dream")])
    b.add_glossary([GlossaryEntry("网络强国", "zh", "cyber great power"), GlossaryEntry(forged, "zh", "China dream"),
                    GlossaryEntry("人民的美好生活", "zh", "the people's better life")])
    b.close()
    report = merge_databases(a, [tmp_path / "b.db"])
    assert report.glossary == 1
    assert sorted((g.source_text, g.ours, g.theirs) for g in report.glossary_conflicts) == sorted([
        ("网络强国", "cyberpower", "cyber great power"), (forged, "Chinese Dream", "China dream")])
    assert {e.source_text: e.rendering for e in a.glossary()}["网络强国"] == "cyberpower"
    result = CliRunner().invoke(cli, ["merge", str(tmp_path / "b.db"), "--db", str(a.path)])
    assert result.exit_code == 0, result.output
    assert "2 glossary phrases rendered otherwise there (ours kept)" in result.output
    assert "glossary: 网络强国 (zh) is rendered 'cyber great power' there; kept ours, 'cyberpower'" in result.output
    assert "glossary: '中国梦\\nFORGED LINE' (zh)" in result.output
    assert not any(line.startswith("FORGED") for line in result.output.splitlines())
    a.close()


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


def test_a_full_disk_during_a_merge_is_this_projects_disk_not_the_other_file(colleague):
    """SQLite's "database or disk is full" while the merge writes here is the project's DiskFull
    (free some space), not "cannot merge b.db" — the colleague's file is fine."""
    from annotator.errors import DiskFull

    a, b_path = colleague
    b = Store.open(b_path)
    for i in range(400):  # the colleague's history: more than the free room of a page or two
        b.decide(1, "bob", AnnotationState(("Economic",) if i % 2 else ("Political",), (), "corrected"))
    b.close()
    counts = _counts(a)
    a.db.execute("PRAGMA max_page_count = 1")  # SQLite keeps it at the current size
    with pytest.raises(DiskFull) as caught:
        merge_databases(a, [b_path])
    assert "b.db" not in str(caught.value)
    a.db.execute(f"PRAGMA max_page_count = {2**31 - 2}")
    assert _counts(a) == counts


def test_a_file_too_big_for_memory_is_refused_in_one_line(colleague, monkeypatch):
    a, b_path = colleague
    real = q._check_intact

    def out_of_memory(conn, path):
        real(conn, path)
        raise MemoryError

    monkeypatch.setattr(q, "_check_intact", out_of_memory)
    with pytest.raises(AnnotatorError, match="does not fit in this machine's memory; nothing was merged"):
        merge_databases(a, [b_path])


def test_views_virtual_and_without_rowid_tables_are_told_apart_on_an_sqlite_older_than_3_37():
    """``pragma_table_list`` came with SQLite 3.37; where the system's SQLite is older, the
    CREATE statement tells what a table is, and the same files are refused."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE plain (x)")
    con.execute("CREATE TABLE keyed (x PRIMARY KEY) WITHOUT ROWID")
    con.execute("CREATE VIRTUAL TABLE words USING fts5(x)")

    class OlderSqlite:
        def execute(self, sql, *args):
            if "pragma_table_list" in sql:
                raise sqlite3.OperationalError("no such table: pragma_table_list")
            return con.execute(sql, *args)

    for name, kind in (("plain", ("table", 0)), ("keyed", ("table", 1)), ("words", ("virtual", 0))):
        assert q._table_kind(con, name) == q._table_kind(OlderSqlite(), name) == kind

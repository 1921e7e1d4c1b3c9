"""Pre-annotations are a prior, never a vote (issue 21): the seed labels, and imports marked
``--prior``, count only where no person has decided a segment or speech; a person's correction is
the gold one in the export, training, agreement and adjudication, and only people tie."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database
from textual.widgets import Select

from _team_fixtures import add_speech, build_corpus
from _ui_fixtures import build_project as build_ui_project
from annotator.cli import cli
from annotator.corpora.seeds import SEED_ANNOTATOR
from annotator.errors import AnnotatorError
from annotator.export import export_gold
from annotator.schemes import get_scheme
from annotator.services.evaluation.sides import gold_examples
from annotator.store import AnnotationState, SpanLabel, Store
from annotator.store.db import configure
from annotator.store.gold import gold_labels, speech_gold_labels
from annotator.store.schema import migrations
from annotator.team.agreement import agreement
from annotator.team.assign import assign_work, disagreements
from annotator.team.merge import merge_databases

SEED = SEED_ANNOTATOR
SLOGAN = SpanLabel(0, 24, "Slogan")  # "Make America great again" in build_corpus's first segments


def exported(store: Store, folder: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """The JSONL export read back: segment records by segment id, speech records by speech id."""
    report = export_gold(store, "jsonl", base_dir=folder)
    lines = [json.loads(line) for line in report.path.read_text(encoding="utf-8").splitlines()]
    return ({r["id"]: r for r in lines if r["level"] == "segment"},
            {r["speech_id"]: r for r in lines if r["level"] == "speech"})


# ------------------------------------------------------------------- the export
def test_a_persons_correction_of_seed_labels_is_the_gold_one(store, tmp_path):
    build_corpus(store, 1, 0)
    first, second = (s.id for s in store.segments_of_speech(1)[:2])
    store.decide(first, SEED, AnnotationState(("Political",), (), "accepted"))
    store.decide(first, "ann", AnnotationState(("Economic", "Morality"), (SLOGAN,), "corrected"))
    store.decide(second, SEED, AnnotationState(("Economic",), (), "accepted"))  # nobody else: the seed's
    segments, _ = exported(store, tmp_path)
    corrected = segments[first]
    assert (corrected["status"], corrected["frames"], corrected["tie"]) == ("corrected", ["Economic", "Morality"], False)
    assert corrected["spans"] == [{"start": 0, "end": 24, "label": "Slogan", "text": "Make America great again"}]
    assert corrected["annotators"] == ["ann"] and corrected["source"] == "single"
    seeded = segments[second]
    assert (seeded["frames"], seeded["source"], seeded["annotators"], seeded["tie"]) == \
        (["Economic"], "prior", ["seed"], False)
    # training reads the same gold
    by_id = {ex.id: ex for ex in gold_examples(store, get_scheme())}
    assert by_id[str(first)].frames == ["Economic", "Morality"] and by_id[str(first)].spans == [(0, 24, "Slogan")]


def test_a_persons_speech_frames_supersede_the_seeds(store, tmp_path):
    build_corpus(store, 2, 0)
    store.decide_speech(1, SEED, AnnotationState(("Political",), (), "accepted"))
    store.decide_speech(1, "ann", AnnotationState(("Economic", "Morality"), (), "corrected"))
    store.decide_speech(2, SEED, AnnotationState(("Political",), (), "accepted"))
    _, speeches = exported(store, tmp_path)
    assert (speeches[1]["frames"], speeches[1]["tie"], speeches[1]["annotators"]) == \
        (["Economic", "Morality"], False, ["ann"])
    assert (speeches[2]["frames"], speeches[2]["source"]) == (["Political"], "prior")


def test_a_persons_skip_leaves_the_seed_labels_as_gold(store):
    build_corpus(store, 1, 0)
    seg = store.segments_of_speech(1)[0].id
    store.decide(seg, SEED, AnnotationState(("Political",), (SLOGAN,), "accepted"))
    store.decide(seg, "ann", AnnotationState((), (), "skipped"))
    store.decide_speech(1, SEED, AnnotationState(("Political",), (), "accepted"))
    store.decide_speech(1, "ann", AnnotationState((), (), "skipped"))
    (ex,) = gold_labels(store).examples
    assert (ex.frames, ex.spans[0]["label"], ex.source, ex.status) == (["Political"], "Slogan", "prior", "accepted")
    (speech,) = speech_gold_labels(store)
    assert speech.frames == ["Political"] and speech.source == "prior"


def test_two_people_still_tie_and_the_seed_breaks_no_tie(store):
    build_corpus(store, 1, 0)
    seg = store.segments_of_speech(1)[0].id
    store.decide(seg, SEED, AnnotationState(("Economic",), (), "accepted"))
    store.decide(seg, "ann", AnnotationState(("Economic",), (), "accepted"))
    store.decide(seg, "bob", AnnotationState(("Morality",), (), "corrected"))
    gold = gold_labels(store)
    (ex,) = gold.examples
    assert ex.frames == [] and ex.tie and ex.annotators == ["ann", "bob"]
    assert {t.what for t in gold.ties} == {"frame Economic", "frame Morality"}


# ------------------------------------------------------------------- agreement and adjudication
def test_agreement_and_disagreements_leave_the_seed_out(store):
    build_corpus(store, 2, 0)
    segs = [s.id for s in store.iter_segments()]
    for i, seg in enumerate(segs):  # the seed and ann differ everywhere
        store.decide(seg, SEED, AnnotationState(("Political",), (), "accepted"))
        store.decide(seg, "ann", AnnotationState(("Economic",) if i % 2 else ("Morality",), (), "corrected"))
    store.decide(segs[0], "bob", AnnotationState(("Economic",), (), "accepted"))  # ann said Morality
    report = agreement(store)
    assert report["overall"]["annotators"] == ["ann", "bob"] and report["overall"]["segments"] == 1
    assert set(report["overall"]["pairs"]) == {"ann|bob"}
    assert disagreements(store) == [segs[0]]  # a person against the seed is nothing to adjudicate


# ------------------------------------------------------------------- a project made before the prior table
def test_a_project_from_before_priors_keeps_its_seed_labels_as_a_prior(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before="m014_prior_annotators")
    old = Store(db, path)
    build_corpus(old, 1, 0)
    seg = old.segments_of_speech(1)[0].id
    old.decide(seg, SEED, AnnotationState(("Political",), (), "accepted"))
    old.decide(seg, "ann", AnnotationState(("Economic",), (), "corrected"))
    old.close()
    store = Store.open(path)
    assert store.prior_annotators() == {"seed"}
    (ex,) = gold_labels(store).examples
    assert (ex.frames, ex.tie, ex.status) == (["Economic"], False, "corrected")
    store.close()


# ------------------------------------------------------------------- import-labels --prior
def _prodigy(path: Path, texts: list[str], frames: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "accept": frames, "answer": "accept"}) + "\n" for t in texts),
                    encoding="utf-8")
    return path


def test_import_labels_prior_makes_its_name_a_prior(db_path, tmp_path):
    store = Store.open(db_path)
    build_corpus(store, 1, 0)
    first, second = store.segments_of_speech(1)[:2]
    store.decide(first.id, "ann", AnnotationState(("Economic",), (), "corrected"))
    store.close()
    labels = _prodigy(tmp_path / "model.jsonl", [first.text, second.text], ["Political"])
    runner = CliRunner()
    result = runner.invoke(cli, ["import-labels", str(labels), "--format", "prodigy", "--annotator", "model-run",
                                 "--prior", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("; a prior (any person's decision supersedes it): model-run")
    status = runner.invoke(cli, ["status", "--db", str(db_path)]).output
    assert "model-run    accepted 2 (prior: pre-annotations)" in status and "ann          corrected 1\n" in status
    store = Store.open(db_path)
    assert store.is_prior("model-run")
    ex = {e.segment_id: e for e in gold_labels(store).examples}
    assert (ex[first.id].frames, ex[first.id].tie) == (["Economic"], False)  # ann's, no 1-1 tie
    assert (ex[second.id].frames, ex[second.id].source) == (["Political"], "prior")
    store.close()
    # a prior needs a name of its own: never a person's, never left to the file
    for args, says in ((["--annotator", "ann"], "already holds a person's decisions"),
                       ([], "--prior: name the pre-annotations with --annotator NAME")):
        bad = runner.invoke(cli, ["import-labels", str(labels), "--format", "prodigy", "--prior", *args,
                                  "--db", str(db_path)])
        assert bad.exit_code == 2 and says in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert not Store.open(db_path).is_prior("ann")


# ------------------------------------------------------------------- merge and assign
def test_merge_carries_the_other_projects_priors(tmp_path):
    ours, theirs = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    build_corpus(ours, 1, 0)
    build_corpus(theirs, 1, 0)
    theirs.add_prior("model-run", "test")
    theirs.decide(1, "model-run", AnnotationState(("Political",), (), "accepted"))
    theirs.close()
    ours.decide(1, "ann", AnnotationState(("Economic",), (), "corrected"))
    report = merge_databases(ours, [tmp_path / "b.db"])
    assert report.priors == 1 and ours.is_prior("model-run")
    (ex,) = gold_labels(ours).examples
    assert (ex.frames, ex.tie) == (["Economic"], False)
    # a name that is a prior there but a person here stops the merge
    other = Store.open(tmp_path / "c.db")
    build_corpus(other, 1, 0)
    other.add_prior("ann", "test")
    other.close()
    with pytest.raises(AnnotatorError, match="'ann' holds pre-annotations there but a person's decisions here"):
        merge_databases(ours, [tmp_path / "c.db"])
    assert not ours.is_prior("ann")
    ours.close()


def test_assign_shares_out_seed_labelled_segments_and_never_to_the_seed(store):
    build_corpus(store, 1, 0)
    segs = [s.id for s in store.segments_of_speech(1)]
    store.decide(segs[0], SEED, AnnotationState(("Political",), (), "accepted"))
    store.decide(segs[1], "ann", AnnotationState(("Economic",), (), "accepted"))
    plan = assign_work(store, ["bob"], overlap=0.0)
    assert sorted(seg for seg, _ in plan.pairs) == [segs[0], segs[2]]  # the seed's is nobody's decision
    with pytest.raises(AnnotatorError, match="'seed' holds pre-annotations"):
        assign_work(store, ["bob", SEED], overlap=0.0)


# ------------------------------------------------------------------- the annotation screen
def test_nobody_annotates_under_a_priors_name(tmp_path):
    path = tmp_path / "ui.db"
    build_ui_project(path).close()
    from annotator.ui.app import make_app

    with pytest.raises(AnnotatorError, match="'seed' holds pre-annotations"):
        make_app(path, SEED, "framing", suggest=False)
    result = CliRunner().invoke(cli, ["annotate", "--no-suggest", "--annotator", "seed", "--db", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "annotator: error: --annotator 'seed' holds pre-annotations in this project (a prior, which any person's decision "
        "supersedes); annotate under your own name"]


async def test_toggling_frames_on_a_seed_labelled_segment_makes_them_gold(tmp_path):
    """The report's steps: filter Language zh, on a seed-labelled segment toggle two frames, press a."""
    from annotator.ui.app import make_app

    path = tmp_path / "ui.db"
    store = build_ui_project(path)
    seg = store.segment_ids()[4]  # 坚持以人民为中心的发展思想。 (no suggestions)
    store.decide(seg, SEED, AnnotationState(("Political",), (SpanLabel(2, 5, "Slogan"),), "accepted"))
    store.close()
    app = make_app(path, "ann", "framing", suggest=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f")
        app.screen.query_one("#language", Select).value = "zh"
        await pilot.click("#apply")
        await pilot.pause()
        app.screen.show_segment(seg)
        others = str(app.screen.query_one("#others").render())
        await pilot.press("1", "8", "a")  # Economic, Security and defence
    store = Store.open(path)
    ex = {e.segment_id: e for e in gold_labels(store).examples}[seg]
    store.close()
    assert (ex.frames, ex.status, ex.tie, ex.annotators) == (
        ["Economic", "Security_and_defense"], "corrected", False, ["ann"])
    assert "seed (prior) accepted: Political" in others  # the screen says what the seed labels are

"""One split, used everywhere: the exported test set is the set the tool tests its models on,
and a speech keeps its side as the project labels more (it once took three algorithms: 80/10/10
greedy by speech id in the export, 70/15/15 by hash in training, and a seeded fallback)."""

from __future__ import annotations

import json

from _team_fixtures import add_speech, build_corpus, english_segments, label_everything
from annotator.export import export_gold
from annotator.schemes import get_scheme
from annotator.services.evaluation.sides import gold_examples, split
from annotator.store import AnnotationState


def exported_sides(store, tmp_path, **options) -> dict[int, str]:
    report = export_gold(store, "jsonl", "gold.jsonl", base_dir=tmp_path, **options)
    return {row["id"]: row["split"] for row in map(json.loads, report.path.read_text(encoding="utf-8").splitlines())}


def training_sides(store) -> dict[int, str]:
    train, dev, test = split(store, gold_examples(store, get_scheme()))
    return {int(ex.id): name for name, part in zip(("train", "dev", "test"), (train, dev, test)) for ex in part}


def test_the_exported_test_set_is_the_one_training_tests_on(store, tmp_path):
    build_corpus(store, 20, 4)
    label_everything(store, "ann")
    exported = exported_sides(store, tmp_path)
    assert training_sides(store) == exported
    assert {"train", "dev", "test"} == set(exported.values())

    # the other way round in a fresh project: training first, then the export
    from annotator.store import Store

    other = Store.in_memory()
    build_corpus(other, 20, 4)
    label_everything(other, "ann")
    first = training_sides(other)
    assert exported_sides(other, tmp_path / "b") == first


def test_a_speech_keeps_its_side_as_the_project_labels_more(store, tmp_path):
    build_corpus(store, 12, 2)
    label_everything(store, "ann")
    before = exported_sides(store, tmp_path)
    for i in range(40):  # many new speeches, all of one frame: a fresh split would move old ones
        speech = add_speech(store, f"new {i}", "en", english_segments(100 + i))
        for seg in store.segments_of_speech(speech):
            store.decide(seg.id, "ann", AnnotationState(("Morality",), (), "accepted"))
    after = exported_sides(store, tmp_path)
    assert {sid: after[sid] for sid in before} == before
    assert training_sides(store) == after
    assert {"train", "dev", "test"} <= set(after[s] for s in after if s not in before)


def test_an_export_with_its_own_split_leaves_the_projects_alone(store, tmp_path):
    build_corpus(store, 12, 2)
    label_everything(store, "ann")
    own = exported_sides(store, tmp_path, seed=5, fractions=(0.5, 0.25, 0.25))
    assert store.split_sides() == {}
    project = exported_sides(store, tmp_path)
    assert training_sides(store) == project
    assert len(store.split_sides()) == 14 and set(own) == set(project)


def test_a_merge_brings_the_colleagues_split_sides(tmp_path):
    from annotator.store import Store
    from annotator.team.merge import merge_databases

    ours, theirs = Store.open(tmp_path / "a.db"), Store.open(tmp_path / "b.db")
    for store, n in ((ours, 6), (theirs, 12)):
        build_corpus(store, n, 0)
        label_everything(store, "ann")
        exported_sides(store, tmp_path / str(n))
    mine, colleague = ours.split_sides(), theirs.split_sides()
    theirs.close()
    report = merge_databases(ours, [tmp_path / "b.db"])
    merged = ours.split_sides()
    assert {h: merged[h] for h in mine} == mine  # ours kept
    assert {h: merged[h] for h in colleague if h not in mine} == {h: s for h, s in colleague.items() if h not in mine}
    assert report.split_sides == len(set(colleague) - set(mine)) > 0
    assert report.split_sides_differing == sum(1 for h in mine if h in colleague and colleague[h] != mine[h])
    again = merge_databases(ours, [tmp_path / "b.db"])
    assert again.split_sides == 0 and not again.added_anything()

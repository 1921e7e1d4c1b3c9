"""Speech-level gold goes out with the segments' — in the JSONL file with ``level: "speech"``,
beside it in Parquet, as a DatasetDict of its own in the hf folder — on the project's one split,
and comes back in with ``import-labels``."""

from __future__ import annotations

import json

import pytest

from _team_fixtures import build_corpus, build_project
from annotator.export import export_gold, gold_labels, import_labels, read_export
from annotator.export.speech_records import read_speech_export
from annotator.schemes import get_scheme
from annotator.store import AnnotationState, Store
from annotator.store.gold import speech_gold_labels


@pytest.fixture
def project(store):
    build_project(store)
    store.decide_speech(1, "ann", AnnotationState(("Economic", "Political"), (), "accepted"))
    store.decide_speech(1, "bob", AnnotationState(("Political",), (), "accepted"))  # Economic: a tie
    store.decide_speech(2, "ann", AnnotationState(("Morality",), (), "accepted"))
    store.decide_speech(9, "ann", AnnotationState((), (), "rejected"))  # a Chinese speech: no frame
    store.decide_speech(3, "ann", AnnotationState((), (), "skipped"))  # no gold
    return store


def expected(store):
    sides = store.split_sides()
    return {g.speech_key: (g.frames, sides[g.speech_key]) for g in speech_gold_labels(store)}


def test_jsonl_carries_speech_records_on_the_projects_split_and_imports_back(project, tmp_path):
    report = export_gold(project, "jsonl", base_dir=tmp_path)
    lines = [json.loads(line) for line in report.path.read_text(encoding="utf-8").splitlines()]
    assert {line["level"] for line in lines} == {"segment", "speech"}
    speeches = read_speech_export(report.path, "jsonl")
    assert {r["speech_hash"]: (r["frames"], r["split"]) for r in speeches} == expected(project)
    assert len(read_export(report.path, "jsonl")) == len(gold_labels(project).examples)  # segments apart
    one = next(r for r in speeches if r["speech_id"] == 1)
    assert one["tie"] and one["source"] == "majority" and one["annotators"] == ["ann", "bob"]
    assert "frames for 3 whole speeches" in report.line()
    meta = json.loads(report.metadata_path.read_text(encoding="utf-8"))
    assert meta["speech_level"]["speeches"] == 3 and meta["speech_level"]["ties"] == [
        {"speech_id": 1, "speech_hash": one["speech_hash"], "what": "frame Economic"}]
    # into a fresh project with the same speeches (other ids would not matter: the hash names them)
    fresh = Store.in_memory()
    build_corpus(fresh)
    result = import_labels(fresh, report.path, "jsonl", get_scheme(), annotator="imported")
    assert result.speech_decisions == 3 and result.decisions == len(gold_labels(project).examples)
    assert {g.speech_key: g.frames for g in speech_gold_labels(fresh)} == {k: v[0] for k, v in expected(project).items()}
    fresh.close()


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_parquet_and_hf_keep_the_speech_records_apart(project, tmp_path, fmt):
    report = export_gold(project, fmt, base_dir=tmp_path)
    rows = read_speech_export(report.path, fmt)
    assert {r["speech_hash"]: (r["frames"], r["split"]) for r in rows} == expected(project)
    assert len(read_export(report.path, fmt)) == len(gold_labels(project).examples)
    if fmt == "hf":
        import datasets

        assert set(datasets.load_from_disk(str(report.path))) == {"train", "dev", "test"}
        sides = {side for _, side in expected(project).values()}
        assert set(datasets.load_from_disk(str(report.path / "speeches"))) == sides
    else:
        assert (tmp_path / "gold.speeches.parquet").is_file()


def test_speech_labels_alone_can_be_exported(store, tmp_path):
    build_corpus(store, 3, 0)
    store.decide_speech(2, "ann", AnnotationState(("Economic",), (), "accepted"))
    report = export_gold(store, "jsonl", base_dir=tmp_path)
    assert [r["speech_id"] for r in read_speech_export(report.path, "jsonl")] == [2]
    assert read_export(report.path, "jsonl") == []


def test_a_format_without_room_for_them_says_so(project, tmp_path):
    report = export_gold(project, "csv", base_dir=tmp_path)
    assert "frames for 3 whole speeches not in this format" in report.line()


def test_another_split_for_one_export_keeps_each_speech_on_one_side(project, tmp_path):
    report = export_gold(project, "jsonl", base_dir=tmp_path, seed=3)
    segment_sides = {r["uid"].split(":")[0]: r["split"] for r in read_export(report.path, "jsonl")}
    for r in read_speech_export(report.path, "jsonl"):
        assert r["split"] == segment_sides.get(r["speech_hash"], r["split"])

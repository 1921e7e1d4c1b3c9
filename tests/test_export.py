"""Export and import of label sets: gold rules, splits, every format's round trip, safe paths."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from _team_fixtures import build_corpus, build_project
from annotator.cli import cli
from annotator.errors import AnnotatorError
from annotator.export import FORMATS, export_gold, gold_labels, import_labels, read_export, split_examples
from annotator.export import formats as formats_mod
from annotator.export.files import TEMP_PREFIX, resolve_out
from annotator.export.formats import bio_tags, tokenize
from annotator.schemes import get_scheme
from annotator.store import AnnotationState, SpanLabel, Store


@pytest.fixture
def project(store):
    ids = build_project(store)
    return store, ids


def _by_id(examples):
    return {ex.segment_id: ex for ex in examples}


# ------------------------------------------------------------------- gold


def test_gold_rules_adjudication_ties_skips(project):
    store, ids = project
    gold = gold_labels(store)
    ex = _by_id(gold.examples)
    # ann and bob agree: majority keeps both the frame and the slogan.
    assert ex[ids["agree"]].frames == ["Political"] and ex[ids["agree"]].source == "majority"
    assert ex[ids["agree"]].spans == [{"start": 0, "end": 24, "label": "Slogan", "text": "Make America great again"}]
    # Economic by both (2 > 1), Quality_of_life by one of two: a tie, reported and flagged.
    assert ex[ids["tie_frame"]].frames == ["Economic"] and ex[ids["tie_frame"]].tie
    # ann rejected, bob said Political: no frame wins, the tie is reported, not dropped.
    assert ex[ids["tie_reject"]].frames == [] and ex[ids["tie_reject"]].tie
    assert {(t.segment_id, t.what) for t in gold.ties} == {
        (ids["tie_frame"], "frame Quality_of_life"), (ids["tie_reject"], "frame Political")}
    # The adjudicator's decision wins over ann's Economic and bob's Morality.
    adj = ex[ids["adjudicated"]]
    assert adj.source == "adjudicated" and adj.frames == ["Morality"]
    # A skipped decision is no gold label.
    assert ids["skipped"] not in ex
    summary = gold.summary()
    assert summary["ties"] == 2 and summary["segments"] == 29
    assert summary["by_source"] == {"majority": 3, "single": 25, "adjudicated": 1}


def test_adjudicator_wins_even_against_a_unanimous_majority(store):
    build_corpus(store, 1, 0)
    seg = store.segments_of_speech(1)[0]
    for name in ("a", "b", "c"):
        store.decide(seg.id, name, AnnotationState(("Economic",), (), "accepted"))
    store.decide(seg.id, "adjudicator:z", AnnotationState((), (), "rejected"))
    (ex,) = gold_labels(store).examples
    assert ex.source == "adjudicated" and ex.frames == [] and ex.spans == []


def test_rejected_segments_carry_their_status_and_can_be_left_out(store, tmp_path):
    """A rejected segment (no label applies) is exported with status rejected and no label, in
    every format; `--rejected drop` leaves it out."""
    build_corpus(store, 1, 0)
    a, b, c = store.segments_of_speech(1)[:3]
    store.decide(a.id, "ann", AnnotationState(("Economic",), (), "accepted"))
    store.decide(b.id, "ann", AnnotationState((), (), "rejected"))
    store.decide(c.id, "ann", AnnotationState(("Morality",), (), "corrected"))
    store.decide(c.id, "bob", AnnotationState((), (), "rejected"))  # 1 of 2 rejected: not a rejection
    ex = _by_id(gold_labels(store).examples)
    assert (ex[a.id].status, ex[b.id].status, ex[c.id].status) == ("accepted", "rejected", "corrected")
    for fmt in ("jsonl", "csv", "conll", "parquet"):  # hf: the parquet table's columns (and an empty split
        # does not load back with datasets.load_from_disk, a datasets bug, whatever the columns)
        report = export_gold(store, fmt, None, tmp_path / fmt)
        rows = {r["id"]: r for r in read_export(report.path, fmt)}
        assert rows[b.id]["status"] == "rejected" and rows[a.id]["status"] == "accepted", fmt
        assert rows[b.id].get("frames", []) == [] and rows[b.id].get("spans", []) == [], fmt
        assert "1 rejected as negatives (no label)" in report.line()
    prodigy = export_gold(store, "prodigy", None, tmp_path / "prodigy")
    tasks = [json.loads(line) for line in prodigy.path.read_text(encoding="utf-8").splitlines()]
    assert [t["answer"] for t in tasks if t["meta"]["id"] == b.id] == ["reject"]
    dropped = export_gold(store, "jsonl", None, tmp_path / "drop", rejected="drop")
    assert b.id not in {r["id"] for r in read_export(dropped.path, "jsonl")}
    assert "1 rejected left out" in dropped.line()
    meta = json.loads(dropped.metadata_path.read_text(encoding="utf-8"))
    assert meta["rejected"] == {"as": "drop", "segments": 1} and meta["counts"]["segments"] == 2
    result = CliRunner().invoke(cli, ["export", "--help"])
    assert "--rejected [negative|drop]" in result.output


def test_rejected_status_comes_back_through_import_labels(store, tmp_path):
    build_corpus(store, 1, 0)
    seg = store.segments_of_speech(1)[0]
    store.decide(seg.id, "ann", AnnotationState((), (), "rejected"))
    report = export_gold(store, "jsonl", None, tmp_path)
    import_labels(store, report.path, "jsonl", get_scheme(), annotator="copy")
    assert store.annotation(seg.id, "copy").state.status == "rejected"


def test_majority_of_three_spans_and_frames(store):
    build_corpus(store, 1, 0)
    seg = store.segments_of_speech(1)[0]
    span = SpanLabel(0, 24, "Slogan")
    store.decide(seg.id, "a", AnnotationState(("Economic", "Political"), (span,), "accepted"))
    store.decide(seg.id, "b", AnnotationState(("Economic",), (span,), "accepted"))
    store.decide(seg.id, "c", AnnotationState(("Morality",), (SpanLabel(0, 12, "Slogan"),), "accepted"))
    gold = gold_labels(store)
    (ex,) = gold.examples
    # Economic 2/3 and the 0-24 span 2/3 win; Political, Morality and 0-12 (1/3 each) lose; no tie.
    assert ex.frames == ["Economic"] and [(s["start"], s["end"]) for s in ex.spans] == [(0, 24)]
    assert not ex.tie and gold.ties == []


def test_annotator_filter_uses_only_named_decisions(project):
    store, ids = project
    ex = _by_id(gold_labels(store, annotators=["bob"]).examples)
    assert set(ex) == {ids["agree"], ids["tie_frame"], ids["tie_reject"], ids["adjudicated"]}
    assert ex[ids["adjudicated"]].frames == ["Morality"] and ex[ids["adjudicated"]].source == "single"


# ------------------------------------------------------------------ splits


def test_splits_keep_speeches_whole_and_are_seeded(project):
    store, _ = project
    examples = gold_labels(store).examples
    result = split_examples(examples, seed=7)
    sides: dict[int, set[str]] = {}
    for ex in examples:
        sides.setdefault(ex.speech_id, set()).add(result.by_segment[ex.segment_id])
    assert all(len(s) == 1 for s in sides.values())
    assert set(result.by_segment) == {ex.segment_id for ex in examples}
    assert sum(result.summary["sizes"].values()) == len(examples)
    assert all(result.summary["sizes"][name] > 0 for name in ("train", "dev", "test"))
    assert split_examples(examples, seed=7).by_segment == result.by_segment


def test_splits_balance_a_rare_label(store):
    # 20 speeches, 4 of them carry the rare frame Morality: train, dev and test each get some.
    build_corpus(store, 20, 0)
    for seg in store.iter_segments():
        frames = ("Morality",) if seg.speech_id % 5 == 0 else ("Economic",)
        store.decide(seg.id, "a", AnnotationState(frames, (), "accepted"))
    examples = gold_labels(store).examples
    result = split_examples(examples, (0.5, 0.25, 0.25), seed=1)
    counts = result.summary["label_counts"]
    assert all(counts[name].get("frame:Morality", 0) > 0 for name in ("train", "dev", "test"))
    assert result.summary["sizes"] == {"train": 30, "dev": 15, "test": 15}


# ------------------------------------------------------------ round trips


def _expected(store):
    gold = gold_labels(store)
    split = split_examples(gold.examples)
    return {ex.segment_id: (ex, split.by_segment[ex.segment_id]) for ex in gold.examples}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_full_formats_round_trip(project, tmp_path, fmt):
    store, _ = project
    report = export_gold(store, fmt, base_dir=tmp_path)
    rows = read_export(report.path, fmt)
    expected = _expected(store)
    assert len(rows) == len(expected)
    for row in rows:
        ex, split = expected[row["id"]]
        assert row["split"] == split
        assert (row["uid"], row["speech_id"], row["speech_title"], row["language"], row["text"]) == (
            ex.segment_uid, ex.speech_id, ex.speech_title, ex.language, ex.text)
        assert row["frames"] == ex.frames and row["spans"] == ex.spans
        assert (row["source"], row["annotators"], row["tie"]) == (ex.source, ex.annotators, ex.tie)


def test_hf_folder_has_splits_as_keys(project, tmp_path):
    import datasets

    store, _ = project
    report = export_gold(store, "hf", base_dir=tmp_path)
    dd = datasets.load_from_disk(str(report.path))
    assert set(dd) == {"train", "dev", "test"}
    assert {k: len(v) for k, v in dd.items()} == report.split["sizes"]
    meta = json.loads((report.path / "metadata.json").read_text())
    assert meta["split"]["sizes"] == report.split["sizes"]


def test_csv_frames_round_trip(project, tmp_path):
    store, _ = project
    report = export_gold(store, "csv", base_dir=tmp_path)
    expected = _expected(store)
    rows = read_export(report.path, "csv")
    assert len(rows) == len(expected)
    for row in rows:
        ex, split = expected[row["id"]]
        assert (row["text"], sorted(row["frames"]), row["split"]) == (ex.text, ex.frames, split)


def test_conll_spans_round_trip_including_cjk_and_mid_word_spans(store, tmp_path):
    build_corpus(store, 2, 2)
    segs = list(store.iter_segments())
    # A span that ends before the comma of "again,", one that ends inside "speaker", one in CJK text.
    store.decide(segs[0].id, "a", AnnotationState((), (SpanLabel(0, 24), SpanLabel(31, 36)), "accepted"))
    zh = next(s for s in segs if s.language == "zh")
    start = zh.text.index("网络强国")
    store.decide(zh.id, "a", AnnotationState((), (SpanLabel(start, start + 4),), "accepted"))
    store.decide(segs[1].id, "a", AnnotationState(("Economic",), (), "accepted"))
    report = export_gold(store, "conll", base_dir=tmp_path)
    rows = {r["id"]: r for r in read_export(report.path, "conll")}
    for ex, split in _expected(store).values():
        assert rows[ex.segment_id]["text"] == ex.text
        assert rows[ex.segment_id]["spans"] == ex.spans
        assert rows[ex.segment_id]["split"] == split
    text = report.path.read_text(encoding="utf-8")
    assert f"# id = {zh.id}\n" in text and "网\tB-Slogan\n络\tI-Slogan\n" in text


def test_tokenize_spaced_and_cjk():
    assert tokenize("Go on, now") == [(0, 2), (3, 6), (7, 10)]
    assert tokenize("中国梦 ok") == [(0, 1), (1, 2), (2, 3), (4, 6)]
    assert tokenize("again!", cuts=[5]) == [(0, 5), (5, 6)]
    pairs, dropped = bio_tags("a b c", [{"start": 0, "end": 3, "label": "S"}, {"start": 2, "end": 5, "label": "S"}])
    assert pairs == [("a", "B-S"), ("b", "I-S"), ("c", "O")] and dropped == 1


@pytest.mark.parametrize("fmt", ["prodigy", "labelstudio", "jsonl"])
def test_export_then_import_labels_into_a_fresh_project(project, tmp_path, fmt):
    store, _ = project
    report = export_gold(store, fmt, base_dir=tmp_path)
    fresh = Store.in_memory()
    build_corpus(fresh)
    result = import_labels(fresh, report.path, fmt, get_scheme(), annotator="imported")
    before = {ex.segment_uid: (ex.frames, ex.spans) for ex in gold_labels(store).examples}
    after = {ex.segment_uid: (ex.frames, ex.spans) for ex in gold_labels(fresh).examples}
    assert after == before
    assert result.annotators == ["imported"] and result.decisions == len(before)
    fresh.close()


def test_labelstudio_jsonl_and_prodigy_fields(project, tmp_path):
    store, ids = project
    ls = export_gold(store, "labelstudio", out="tasks.jsonl", base_dir=tmp_path)
    first = json.loads(ls.path.read_text(encoding="utf-8").splitlines()[0])
    assert first["data"]["text"] and first["annotations"][0]["result"][0]["type"] == "labels"
    pr = export_gold(store, "prodigy", base_dir=tmp_path)
    task = json.loads(pr.path.read_text(encoding="utf-8").splitlines()[0])
    assert set(task) >= {"text", "spans", "accept", "answer", "meta", "_input_hash", "_task_hash"}
    assert task["answer"] == "accept" and isinstance(task["_input_hash"], int)


def test_import_reads_other_tools_answers(store, tmp_path):
    build_corpus(store, 2, 0)
    segs = list(store.iter_segments())
    path = tmp_path / "p.jsonl"
    lines = [
        {"text": segs[0].text, "spans": [{"start": 0, "end": 24, "label": "Slogan"}], "accept": ["Political"],
         "answer": "accept", "_annotator_id": "pro-ann"},
        {"text": segs[1].text, "accept": [], "answer": "reject"},
        {"text": segs[2].text, "answer": "ignore"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    import_labels(store, path, "prodigy", get_scheme(), default_annotator="me")
    assert store.annotation(segs[0].id, "pro-ann").state.spans == (SpanLabel(0, 24, "Slogan"),)
    assert store.annotation(segs[1].id, "me").state.status == "rejected"
    assert store.annotation(segs[2].id, "me").state.status == "skipped"
    ls = tmp_path / "ls.json"
    ls.write_text(json.dumps([{"data": {"text": segs[3].text}, "annotations": [
        {"completed_by": 7, "result": [{"type": "choices", "value": {"choices": ["Economic"]}}]},
        {"completed_by": {"email": "x@y"}, "was_cancelled": True, "result": []}]}]), encoding="utf-8")
    import_labels(store, ls, "labelstudio", get_scheme())
    assert store.annotation(segs[3].id, "labelstudio-7").state.frames == ("Economic",)
    assert store.annotation(segs[3].id, "x@y").state.status == "skipped"


def test_import_labels_cli_is_all_or_nothing(db_path, tmp_path):
    store = Store.open(db_path)
    build_corpus(store, 1, 0)
    segs = list(store.iter_segments())
    store.close()
    path = tmp_path / "p.jsonl"
    good = {"text": segs[0].text, "accept": ["Political"], "answer": "accept"}
    bad = {"text": "A sentence nobody ever said.", "accept": ["Economic"], "answer": "accept"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", "prodigy", "--db", str(db_path)])
    assert result.exit_code == 2
    assert f"{path}:2: no segment with this text" in result.stderr
    assert f"annotator: error: 1 problem in {path}; nothing was imported" in result.stderr  # not "1 problems"
    assert Store.open(db_path).counts()["annotated"] == 0  # the good line was not kept either
    path.write_text(json.dumps(good) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", "prodigy", "--db", str(db_path),
                                      "--annotator", "zoe"])
    assert result.exit_code == 0, result.output
    assert Store.open(db_path).annotation(segs[0].id, "zoe").state.frames == ("Political",)


def test_import_refuses_spans_whose_text_does_not_match(store, tmp_path):
    build_corpus(store, 1, 0)
    seg = next(store.iter_segments())
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"text": seg.text, "spans": [{"start": 0, "end": 4, "label": "Slogan",
                                                             "text": "Nope"}]}) + "\n", encoding="utf-8")
    with pytest.raises(AnnotatorError, match=r"p\.jsonl:1: span 0-4 says 'Nope'"):
        import_labels(store, path, "prodigy", get_scheme())


# ---------------------------------------------------------- metadata, paths


def test_metadata_records_scheme_split_and_ties(project, tmp_path):
    store, _ = project
    report = export_gold(store, "jsonl", base_dir=tmp_path, seed=5)
    meta = json.loads(report.metadata_path.read_text())
    scheme = get_scheme()
    assert (meta["scheme"], meta["scheme_hash"]) == (scheme.name, scheme.hash)
    assert meta["split"]["seed"] == 5 and sum(meta["split"]["sizes"].values()) == 29
    assert meta["counts"]["ties"] == 2 and len(meta["ties"]) == 2 and meta["ties"][0]["uid"]
    assert meta["tool_version"] and meta["created_at"]


def test_out_paths_outside_the_export_folder_are_refused(tmp_path, monkeypatch):
    base = tmp_path / "exports"
    monkeypatch.chdir(tmp_path)
    assert resolve_out("a/b.jsonl", "x", base) == (base / "a" / "b.jsonl").resolve()
    assert resolve_out("exports/b.jsonl", "x", base) == (base / "b.jsonl").resolve()  # relative to cwd, inside
    assert resolve_out(None, "gold.jsonl", base) == (base / "gold.jsonl").resolve()
    assert resolve_out("a/../b.jsonl", "x", base) == (base / "b.jsonl").resolve()  # '..' that stays inside
    for bad in ("../escape.jsonl", "a/../../escape.jsonl", str(tmp_path / "elsewhere.jsonl"), "/etc/passwd"):
        with pytest.raises(AnnotatorError, match="outside the export folder"):
            resolve_out(bad, "x", base)
    with pytest.raises(AnnotatorError, match="the export folder itself"):
        resolve_out(str(base), "x", base)
    base.mkdir()
    os.symlink(tmp_path, base / "link")
    with pytest.raises(AnnotatorError, match="outside the export folder"):
        resolve_out("link/escape.jsonl", "x", base)


def test_cli_export_writes_inside_base_and_refuses_escape(db_path, tmp_path):
    store = Store.open(db_path)
    build_project(store)
    store.close()
    base = tmp_path / "out"
    runner = CliRunner()
    ok = runner.invoke(cli, ["export", "--format", "jsonl", "--db", str(db_path), "--base-dir", str(base),
                             "--out", "gold.jsonl", "--split-seed", "3"])
    assert ok.exit_code == 0, ok.output
    assert "29 segments" in ok.output and "2 ties" in ok.output
    assert (base / "gold.jsonl").is_file() and (base / "gold.jsonl.metadata.json").is_file()
    bad = runner.invoke(cli, ["export", "--format", "jsonl", "--db", str(db_path), "--base-dir", str(base),
                              "--out", "../../stolen.jsonl"])
    assert bad.exit_code == 2 and "outside the export folder" in bad.stderr
    assert not (tmp_path.parent / "stolen.jsonl").exists()


def test_failed_export_leaves_no_temp_file_and_keeps_the_old_one(project, tmp_path, monkeypatch):
    store, _ = project
    first = export_gold(store, "jsonl", base_dir=tmp_path)
    before = first.path.read_bytes()

    def broken(records, path, speeches=()):
        path.write_text('{"half": ', encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(formats_mod, "write_jsonl", broken)
    with pytest.raises(OSError, match="disk full"):
        export_gold(store, "jsonl", base_dir=tmp_path)
    assert first.path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_failed_hf_export_leaves_no_temp_folder(project, tmp_path, monkeypatch):
    store, _ = project
    monkeypatch.setattr(formats_mod, "write_hf", lambda records, folder: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        export_gold(store, "hf", base_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_export_with_no_labels_says_what_to_do(store, tmp_path):
    build_corpus(store, 1, 0)
    with pytest.raises(AnnotatorError, match="no labelled segments"):
        export_gold(store, "jsonl", base_dir=tmp_path)


def test_every_format_is_exported_by_the_cli(db_path, tmp_path):
    store = Store.open(db_path)
    build_project(store)
    store.close()
    for fmt in FORMATS:
        result = CliRunner().invoke(cli, ["export", "--format", fmt, "--db", str(db_path), "--base-dir",
                                          str(tmp_path / "e")])
        assert result.exit_code == 0, (fmt, result.output)
    names = sorted(p.name for p in (tmp_path / "e").iterdir())
    assert len([n for n in names if n.endswith(".metadata.json")]) == len(FORMATS) - 1  # hf has it inside
    assert not [n for n in names if n.startswith(TEMP_PREFIX)]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_translations_carry_their_provenance_and_a_gloss_is_never_a_translation(project, tmp_path, fmt):
    store, _ = project
    glossed_only, translated = [s for s in store.iter_segments() if s.language == "zh"][:2]
    for seg in (glossed_only, translated):
        store.add_translation(seg.id, "en", "[gloss] 网络 network · 强国 powerful country", "gloss", "CC-CEDICT + jieba")
    store.add_translation(translated.id, "en", "Build a cyberpower.", "model", "opus-mt-zh-en-v1")
    rows = {r["id"]: r for r in read_export(export_gold(store, fmt, base_dir=tmp_path).path, fmt)}
    row = rows[glossed_only.id]
    assert (row["translation"], row["translation_provenance"], row["translation_origin"]) == ("", "", "")
    assert row["gloss"].startswith("[gloss]")
    row = rows[translated.id]
    assert (row["translation"], row["translation_provenance"], row["translation_origin"]) == (
        "Build a cyberpower.", "model", "opus-mt-zh-en-v1")
    assert row["gloss"].startswith("[gloss]")
    assert not any(r["translation"].startswith("[gloss]") for r in rows.values())

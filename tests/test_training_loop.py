"""The loop through the CLI: labels in the store → `annotator train` → a new active version with
test scores → `annotator suggest` uses it → `models list` / `models use` / `report`."""

from __future__ import annotations

import hashlib
import re

import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from click.testing import CliRunner

from annotator.cli import cli
from annotator.store import AnnotationState, SpanLabel, Store

MONEY = ["The budget deficit and taxes hurt the economy.", "Wages, prices and jobs matter for growth.",
         "Die Wirtschaft braucht Investitionen und Steuern.", "L'économie a besoin d'emplois et de salaires."]
WAR = ["The army must defend the border against attack.", "Our soldiers and missiles protect the nation.",
       "Die Armee verteidigt das Land gegen Angriffe.", "L'armée défend la frontière contre la guerre."]


def labelled_project(path) -> Store:
    store = Store.open(path)
    for i in range(12):
        texts = [t + f" ({i})" for t in (MONEY if i % 2 == 0 else WAR)]
        text = " ".join(texts)
        segs, pos = [], 0
        for t in texts:
            start = text.index(t, pos)
            segs.append({"start": start, "end": start + len(t), "text": t, "language": "en"})
            pos = start + len(t)
        sid = store.add_speech({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text, "language": "en", "title": f"s{i}"}, segs)
        for seg in store.segments_of_speech(sid):
            frame = "Economic" if i % 2 == 0 else "Security_and_defense"
            spans = (SpanLabel(0, 3),) if seg.text.startswith("The") else ()
            store.decide(seg.id, "ann", AnnotationState((frame,), spans, "corrected"))
    return store


@pytest.mark.slow
def test_train_registers_activates_and_suggest_uses_it(tmp_path, tiny_encoder_dir):
    db = tmp_path / "p.db"
    labelled_project(db).close()
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--db", str(db), "--base", str(tiny_encoder_dir), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "frames: frames-" in result.output and "test micro_f1" in result.output
    assert "spans: spans-" in result.output
    # spans scored on every test segment, those without a slogan too, with precision and recall
    assert re.search(r"partial P [\d.]+ R [\d.]+, exact P [\d.]+ R [\d.]+: \d+ spans suggested for \d+ true ones "
                     r"in \d+ test segments \(\d+ without a slogan\)", result.output), result.output
    store = Store.open(db)
    active = store.active_models()
    assert set(active) == {"frames", "spans"}
    meta = {m["version"]: m["meta"] for m in store.registered_models()}
    assert "micro_f1" in meta[active["frames"]]["metrics"]
    assert meta[active["frames"]]["data_hash"].startswith("sha256:")
    # suggestions now come from the new versions
    result = runner.invoke(cli, ["suggest", "--db", str(db), "--no-translate"])
    assert result.exit_code == 0, result.output
    assert store.counts()["suggested"] == store.counts()["segments"]
    listing = runner.invoke(cli, ["models", "list", "--db", str(db)])
    assert f"* {active['frames']}" in listing.output
    spans_row = next(line for line in listing.output.splitlines() if line.startswith(f"* {active['spans']}"))
    assert re.search(r"\d\.\d{3}\s+[\d.]+ [kMG]?B\s+\d{4}-", spans_row), spans_row  # its span F1 is shown, then its size
    # a second frames version, by nearest neighbours; `models use` switches back
    result = runner.invoke(cli, ["train", "--db", str(db), "--base", str(tiny_encoder_dir), "--kind", "frames",
                                 "--method", "knn"])
    assert result.exit_code == 0, result.output
    assert f"(previous {active['frames']}:" in result.output
    assert runner.invoke(cli, ["models", "use", active["frames"], "--db", str(db)]).exit_code == 0
    assert Store.open(db).active_models()["frames"] == active["frames"]
    out = tmp_path / "rep"
    result = runner.invoke(cli, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # F1 per label, the learning curve, the versions
    assert all(f'alt="{name}"' in page for name in ("f1_per_label.png", "learning_curve.png", "versions.png"))


def test_train_without_labels_is_a_clear_error(tmp_path, tiny_encoder_dir):
    db = tmp_path / "p.db"
    Store.open(db).close()
    result = CliRunner().invoke(cli, ["train", "--db", str(db), "--base", str(tiny_encoder_dir), "--kind", "frames"])
    assert result.exit_code == 2
    assert "label more first" in result.output or "label some segments" in result.output


def test_a_worse_version_is_saved_but_not_activated(tmp_path, tiny_encoder_dir, monkeypatch):
    from annotator.schemes import get_scheme
    from annotator.services import training
    from annotator.services.evaluation import versions

    store = labelled_project(tmp_path / "p.db")
    first = training.train_kind(store, get_scheme(), "frames", base=str(tiny_encoder_dir), method="knn")
    assert first.activated and store.active_models()["frames"] == first.version
    # the active version, scored on the same test speeches, beats anything new
    monkeypatch.setattr(versions, "score_version", lambda store, kind, folder, test: {"micro_f1": 1.01})
    second = training.train_kind(store, get_scheme(), "frames", base=str(tiny_encoder_dir), method="knn",
                                 reuse=False)
    assert not second.activated and second.kept_previous and second.discarded
    assert store.active_models()["frames"] == first.version
    assert second.version in {m["version"] for m in store.registered_models()}
    assert f"kept {first.version} active" in second.headline() and f"{second.version} is discarded" in second.headline()
    # discarded: its weights are gone, its scores stay, and it can no longer be used
    assert sorted(p.name for p in second.folder.iterdir()) == ["meta.json"]
    from annotator.ml.registry import read_meta

    kept = read_meta(second.folder)
    assert kept.metrics and "below the active" in kept.extra["discarded"]["reason"]
    store.close()
    runner = CliRunner()
    used = runner.invoke(cli, ["models", "use", second.version, "--db", str(tmp_path / "p.db")])
    assert used.exit_code == 2 and f"model version {second.version!r} was discarded on " in used.stderr
    listing = runner.invoke(cli, ["models", "list", "--db", str(tmp_path / "p.db")])
    row = next(line for line in listing.output.splitlines() if second.version in line)
    assert re.search(r"\(discarded on \d{4}-\d\d-\d\d: weights deleted\)$", row), row
    store = Store.open(tmp_path / "p.db")
    forced = training.train_kind(store, get_scheme(), "frames", base=str(tiny_encoder_dir), method="knn", force=True)
    assert store.active_models()["frames"] == forced.version


def test_retraining_on_unchanged_labels_reuses_the_version(tmp_path, tiny_encoder_dir):
    db = tmp_path / "p.db"
    labelled_project(db).close()
    runner = CliRunner()
    args = ["train", "--db", str(db), "--kind", "frames", "--base", str(tiny_encoder_dir)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    store = Store.open(db)
    versions = {m["version"] for m in store.registered_models()}
    active = store.active_models()["frames"]
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert again.output.count("reused: the labels and split are unchanged") == 2, again.output
    assert {m["version"] for m in store.registered_models()} == versions  # nothing new written
    assert store.active_models()["frames"] == active
    # a changed label is new data: new versions
    seg = store.segments_of_speech(store.speeches()[0].id)[0]
    store.decide(seg.id, "ann", AnnotationState(("Political",), (), "corrected"))
    changed = runner.invoke(cli, args)
    assert changed.exit_code == 0 and "reused" not in changed.output, changed.output
    assert len({m["version"] for m in store.registered_models()} - versions) == 2
    # --fresh trains anew on unchanged labels
    fresh = runner.invoke(cli, args + ["--fresh"])
    assert "reused" not in fresh.output and len({m["version"] for m in store.registered_models()} - versions) == 4


def test_train_chooses_the_quick_frames_model_by_dev_and_the_report_shows_the_baselines(tmp_path, tiny_encoder_dir):
    db = tmp_path / "p.db"
    labelled_project(db).close()
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--db", str(db), "--kind", "frames", "--base", str(tiny_encoder_dir)])
    assert result.exit_code == 0, result.output
    assert "(knn) test micro_f1" in result.output and "(linear) test micro_f1" in result.output
    chosen = re.search(r"frames: chose (\w+) by dev micro-F1 \(knn dev ([\d.]+) / test [\d.]+; linear dev ([\d.]+)",
                       result.output)
    assert chosen, result.output
    method, knn_dev, linear_dev = chosen.group(1), float(chosen.group(2)), float(chosen.group(3))
    assert method == ("linear" if linear_dev > knn_dev else "knn")
    store = Store.open(db)
    meta = {m["version"]: m["meta"] for m in store.registered_models()}
    assert meta[store.active_models()["frames"]]["method"] == method
    assert store.embedding_counts()  # the project kept the sentence embeddings
    report = runner.invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "r")])
    assert report.exit_code == 0, report.output
    assert "frames against baselines" in report.output
    rows = {line.split()[0]: line for line in report.output.splitlines() if line.startswith("  ")}
    assert "majority" in rows and "tfidf+logreg" in rows and "active:" in rows


def test_a_saved_version_scores_later_what_it_scored_when_trained(tmp_path, tiny_encoder_dir):
    """The comparison with the active version is like with like: evaluated again from its
    folder (stored embeddings, float16), a version gets the very scores it was trained with."""
    from annotator.schemes import get_scheme
    from annotator.services import training
    from annotator.services.evaluation import sides, versions

    store = labelled_project(tmp_path / "p.db")
    for method in ("linear", "knn"):
        outcome = training.train_kind(store, get_scheme(), "frames", base=str(tiny_encoder_dir), method=method,
                                     activate=False)  # (a worse second one would be discarded)
        _, _, test = sides.split(store, sides.gold_examples(store, get_scheme()))
        again = versions.score_version(store, "frames", outcome.folder, test)
        assert again["per_label"] == outcome.metrics["per_label"] and again["micro_f1"] == outcome.metrics["micro_f1"]

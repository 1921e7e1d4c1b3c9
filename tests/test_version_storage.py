"""Model versions on disk: a fine-tuned version keeps only what differs from its base and is
rebuilt bit for bit; the models folder says in one line when it cannot be written; linked
folders are versions; `annotator models prune` frees what no active version needs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from click.testing import CliRunner

from annotator.cli import cli
from annotator.ml.examples import Example
from annotator.ml.registry import read_meta
from annotator.store import Store

LABELS = ["Economic", "Political", "Morality"]
TEXTS = ["The economy is growing faster than ever.", "We will build the wall.", "Nobody is above the law.",
         "Our schools need more teachers.", "Health care is a right.", "La France est une grande nation.",
         "我们要建设网络强国。", "Take back control."]


def _examples() -> list[Example]:
    out = []
    for i, text in enumerate(TEXTS):
        out.append(Example(id=str(i), text=text, language="en", frames=[LABELS[i % 3]],
                           spans=[(0, min(8, len(text)), "Slogan")] if i % 2 else [], group=str(i)))
    return out


@pytest.fixture
def base_in_models(tiny_encoder_dir, _isolated_models) -> Path:
    """The tiny encoder as models/encoder/<name>, as setup would place the default encoder."""
    target = _isolated_models / "encoder" / "encoder-tiny"
    shutil.copytree(tiny_encoder_dir, target)
    return target


@pytest.mark.parametrize("kind", ["frames", "spans"])
def test_a_fine_tuned_version_keeps_only_what_differs_and_predicts_the_same(kind, base_in_models):
    import torch

    from annotator.ml.frames import FrameClassifier
    from annotator.ml.spans import SpanTagger
    from annotator.ml.train import save_version, train_frames, train_spans

    torch.set_num_threads(1)
    examples = _examples()
    if kind == "frames":  # frozen word embeddings, as for any encoder with a large vocabulary
        result = train_frames(examples, [], base_in_models, LABELS, epochs=1, batch_size=4, lr=1e-2,
                              freeze_embeddings=True)
    else:
        result = train_spans(examples, [], base_in_models, epochs=1, batch_size=4, lr=1e-2, freeze_embeddings=True)
    folder = save_version(result, kind, "framing", "h", "d", {}, base=str(base_in_models))
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "delta.safetensors", "meta.json"]
    delta = read_meta(folder).extra["delta"]
    assert delta["base"] == "encoder/encoder-tiny" and delta["base_weights"].startswith("sha256:")
    assert 0 < delta["parameters"] < delta["of_parameters"]
    from safetensors import safe_open

    with safe_open(str(folder / "delta.safetensors"), "pt") as fh:
        stored = set(fh.keys())
    assert not any("word_embeddings" in key for key in stored)  # frozen: the base's, not stored again
    assert any(key.startswith("classifier") for key in stored)  # the head, which the base does not have
    full = sum(p.stat().st_size for p in base_in_models.glob("*.safetensors"))
    assert (folder / "delta.safetensors").stat().st_size < full
    # rebuilt from the base and the delta: the very model that was trained
    if kind == "frames":
        saved = FrameClassifier(folder).predict_matrix(TEXTS)
        trained = FrameClassifier.in_memory(result.model, result.tokenizer, LABELS, result.max_length).predict_matrix(TEXTS)
        assert np.array_equal(saved, trained)
    else:
        saved_tagger = SpanTagger(folder)
        trained_tagger = SpanTagger.in_memory(result.model, result.tokenizer, result.labels and saved_tagger.label_names,
                                              result.max_length)
        assert saved_tagger.predict(TEXTS) == trained_tagger.predict(TEXTS)
        loaded = saved_tagger.model.state_dict()
        for key, value in result.model.state_dict().items():
            assert torch.equal(loaded[key], value), key


def test_a_changed_base_refuses_to_rebuild_a_version(base_in_models):
    from annotator.errors import AnnotatorError
    from annotator.ml.frames import FrameClassifier
    from annotator.ml.loading import clear_cache
    from annotator.ml.train import save_version, train_frames

    result = train_frames(_examples(), [], base_in_models, LABELS, epochs=1, batch_size=4, freeze_embeddings=True)
    folder = save_version(result, "frames", "framing", "h", "d", {}, base=str(base_in_models))
    from safetensors.torch import load_file, save_file

    weights = load_file(str(base_in_models / "model.safetensors"))
    key = next(k for k in weights if "encoder.layer.0" in k and k.endswith("weight"))
    weights[key] = weights[key] + 1.0
    save_file(weights, str(base_in_models / "model.safetensors"), metadata={"format": "pt"})
    clear_cache()
    with pytest.raises(AnnotatorError, match="has other weights than the ones it was trained from"):
        FrameClassifier(folder)


# ------------------------------------------------------------------ the models folder


def test_a_models_folder_that_cannot_be_written_is_one_line_naming_annotator_models(tmp_path, monkeypatch):
    db = tmp_path / "p.db"
    Store.open(db).close()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should be")
    monkeypatch.setenv("ANNOTATOR_MODELS", str(blocker / "models"))
    result = CliRunner().invoke(cli, ["models", "setup", "--db", str(db)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"annotator: error: {blocker / 'models'}: cannot write models there (")
    assert "the folder $ANNOTATOR_MODELS names: set ANNOTATOR_MODELS to a folder you can write" in line
    # the default: the tool's own folder
    monkeypatch.delenv("ANNOTATOR_MODELS")
    monkeypatch.setenv("ANNOTATOR_HOME", str(blocker))
    result = CliRunner().invoke(cli, ["suggest", "--db", str(db)])  # no model active: it would set them up
    assert result.exit_code == 2
    assert "the default models folder, in the tool's own folder (the source checkout): set ANNOTATOR_MODELS" \
        in result.stderr


def test_a_linked_encoder_folder_is_a_version(tmp_path, tiny_encoder_dir, _isolated_models):
    """A symbolic link under models/encoder/ (to a folder with a meta.json, or to a plain
    checkpoint without one) shows in `models list` and serves as --base."""
    plain = tmp_path / "xlmr-checkpoint"
    shutil.copytree(tiny_encoder_dir, plain)
    (plain / "meta.json").unlink()
    (_isolated_models / "encoder").mkdir(parents=True)
    (_isolated_models / "encoder" / "shared-e5").symlink_to(tiny_encoder_dir, target_is_directory=True)
    (_isolated_models / "encoder" / "xlmr").symlink_to(plain, target_is_directory=True)
    db = tmp_path / "p.db"
    Store.open(db).close()
    listing = CliRunner().invoke(cli, ["models", "list", "--db", str(db)])
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[0]: line for line in listing.output.splitlines()[1:]}
    assert f"(linked: {plain.resolve()})" in rows["xlmr"] and " linked " in rows["xlmr"]
    # a linked folder with a meta.json goes by the version its meta.json names
    assert f"(linked: {Path(tiny_encoder_dir).resolve()})" in rows[read_meta(tiny_encoder_dir).version]
    from annotator.ml.encoder_setup import resolve_base

    assert resolve_base("xlmr") == _isolated_models / "encoder" / "xlmr"
    shown = CliRunner().invoke(cli, ["models", "show", "xlmr"])
    assert shown.exit_code == 0 and json.loads(shown.output.split("\n", 1)[1])["method"] == "linked"


# ------------------------------------------------------------------ prune


def test_prune_frees_what_no_active_version_needs_and_keeps_the_rest(tmp_path, base_in_models, _isolated_models):
    import os
    import time

    from test_training_loop import labelled_project

    from annotator.schemes import get_scheme
    from annotator.services.training import train_frames_choosing, train_kind

    db = tmp_path / "p.db"
    store = labelled_project(db)
    outcomes, chosen = train_frames_choosing(store, get_scheme(), base=str(base_in_models))
    spans = train_kind(store, get_scheme(), "spans", base=str(base_in_models))
    loser = next(o for o in outcomes if o is not chosen)
    other = tmp_path / "other.db"  # a second project sharing the models folder, with the loser active
    store.close()
    stale_engine = _isolated_models / "engine" / "gone-encoder-0123456789ab"
    (stale_engine / "ct2-int8").mkdir(parents=True)
    (stale_engine / "ct2-int8" / "model.bin").write_bytes(b"x" * 1000)
    staging = _isolated_models / "frames" / ".staging-crashed"
    staging.mkdir()
    (staging / "model.safetensors").write_bytes(b"x" * 500)
    os.utime(staging, (time.time() - 7200, time.time() - 7200))
    engines_in_use = [p for p in (_isolated_models / "engine").iterdir() if p != stale_engine]
    runner = CliRunner()

    dry = runner.invoke(cli, ["models", "prune", "--db", str(db), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"weights of {loser.version} (frames, {loser.method})" in dry.output
    assert str(stale_engine) in dry.output and str(staging) in dry.output
    assert chosen.version not in dry.output.split("kept:")[1].split("\n", 1)[1]  # listed as kept only
    assert "dry run: nothing removed" in dry.output
    assert (loser.folder / "meta.json").is_file() and len(list(loser.folder.iterdir())) > 1
    # through a pipe, it never removes without --yes
    refused = runner.invoke(cli, ["models", "prune", "--db", str(db)])
    assert refused.exit_code == 2 and "run with --yes to remove" in refused.stderr
    # a project sharing the folder keeps its active versions
    shared = Store.open(other)
    from annotator.services.models import register_and_activate

    register_and_activate(shared, loser.folder)
    shared.close()
    kept = runner.invoke(cli, ["models", "prune", "--db", str(db), "--keep-for", str(other), "--dry-run"])
    assert f"weights of {loser.version}" not in kept.output
    done = runner.invoke(cli, ["models", "prune", "--db", str(db), "--yes"])
    assert done.exit_code == 0, done.output
    assert "freed " in done.output
    assert [p.name for p in loser.folder.iterdir()] == ["meta.json"]
    assert read_meta(loser.folder).extra["pruned"]["reason"]
    assert not stale_engine.exists() and not staging.exists()
    # never the active versions, the encoder or the engine conversions in use
    for folder in (chosen.folder, spans.folder, base_in_models, *engines_in_use):
        assert folder.is_dir() and len(list(folder.iterdir())) > 1, folder
    listing = runner.invoke(cli, ["models", "list", "--db", str(db)])
    row = next(line for line in listing.output.splitlines() if loser.version in line)
    assert "(pruned on " in row and "weights deleted" in row
    again = runner.invoke(cli, ["models", "prune", "--db", str(db), "--dry-run"])
    assert "nothing to prune" in again.output

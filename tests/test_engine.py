"""The int8 inference engine: encoders converted once to CTranslate2 and checked against float32
PyTorch, a fidelity gate per model version, and PyTorch as the fallback, always with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _ml_fixtures import tiny_encoder_dir, tiny_frames_dir  # noqa: F401
from test_span_linear import slogan_project

from annotator.ml import engine
from annotator.ml.embeddings import embed_texts, text_key
from annotator.ml.predictors import load_predictor
from annotator.ml.registry import read_meta
from annotator.schemes import get_scheme
from annotator.services.training import train_kind

TEXTS = ["我们要建设网络强国。", "Take back control of our borders.", "La séance est levée.", "Крым наш."]


@pytest.fixture
def fresh_runners():
    engine.forget_runners()
    yield
    engine.forget_runners()


def test_an_encoder_is_converted_once_checked_and_run_in_int8(tiny_encoder_dir, fresh_runners, _isolated_models):
    said = []
    runner = engine.encoder_runner(tiny_encoder_dir, texts=TEXTS, say=said.append)
    assert runner.name == "ct2-int8"
    folder = engine.converted_dir(tiny_encoder_dir)
    assert folder.parent.parent.parent == _isolated_models  # models/engine/<encoder>/ct2-int8
    assert (folder / "model.bin").is_file() and not list(folder.glob("*.safetensors"))
    record = json.loads((folder / "engine.json").read_text())
    assert record["fidelity"]["texts"] == len(TEXTS) and record["fidelity"]["passed"]
    assert record["fidelity"]["cosine_min"] >= engine.MIN_COSINE
    assert said[0].startswith("engine: converting") and "cosine to float32" in said[1]
    # the engine's embeddings are the float32 model's, to within the bar
    ours = embed_texts(tiny_encoder_dir, TEXTS)
    reference = embed_texts(tiny_encoder_dir, TEXTS, engine="float32")
    assert engine.cosines(ours, reference).min() >= engine.MIN_COSINE
    engine.forget_runners()
    again = []
    engine.encoder_runner(tiny_encoder_dir, texts=TEXTS, say=again.append)
    assert again == []  # converted once


def test_pytorch_when_asked_or_when_the_engine_cannot_run_with_one_line_why(tiny_encoder_dir, fresh_runners,
                                                                            monkeypatch):
    engine.set_engine("torch")
    assert engine.runner_name(tiny_encoder_dir) == "torch" and engine.notes() == []
    engine.set_engine("auto")
    monkeypatch.setattr(engine, "ct2_missing", lambda: "the ctranslate2 package is not installed (pip install ctranslate2)")
    assert engine.runner_name(tiny_encoder_dir) == "torch"
    assert engine.notes() == ["engine: PyTorch, because the ctranslate2 package is not installed "
                              "(pip install ctranslate2)"]


def test_a_conversion_below_the_bar_is_not_used(tiny_encoder_dir, fresh_runners, monkeypatch):
    monkeypatch.setattr(engine, "MIN_COSINE", 1.01)  # no int8 conversion reaches it
    assert engine.runner_name(tiny_encoder_dir) == "torch"
    [line] = engine.notes()
    assert "not faithful enough" in line and "< 1.01" in line


def test_a_failed_conversion_falls_back_instead_of_crashing(tiny_encoder_dir, fresh_runners, monkeypatch):
    from ctranslate2 import converters

    def unsupported(self, *args, **kwargs):  # what the converter says of an architecture it lacks
        raise ValueError("No conversion is registered for the model configuration NoSuchModel")

    monkeypatch.setattr(converters.TransformersConverter, "convert", unsupported)
    assert engine.runner_name(tiny_encoder_dir) == "torch"
    [line] = engine.notes()
    assert "its conversion failed: No conversion is registered" in line
    assert not engine.converted_dir(tiny_encoder_dir).exists()  # nothing half-written left


def test_the_store_keeps_each_engines_vectors_apart():
    assert text_key("x", "query: ", 128) != text_key("x", "query: ", 128, "ct2-int8")
    assert text_key("x", "query: ", 128) == text_key("x", "query: ", 128, "torch")  # older vectors keep their keys


def test_training_records_the_check_and_a_version_that_fails_it_runs_in_pytorch(tmp_path, tiny_encoder_dir,
                                                                                fresh_runners, monkeypatch):
    store = slogan_project(tmp_path / "s.db")
    scheme = get_scheme()
    passed = train_kind(store, scheme, "spans", base=str(tiny_encoder_dir))
    check = read_meta(passed.folder).extra["engine"]
    assert check["engine"] == "ct2-int8" and check["passed"] and check["spans_unchanged"] >= 0.95
    assert check["checked_on"] > 0
    assert load_predictor("spans", passed.folder).engine is None  # the process's engine: int8
    # a bar no conversion can pass: the version is pinned to PyTorch, and scored as it will suggest
    monkeypatch.setattr(engine, "MIN_SPANS_UNCHANGED", 1.01)
    pinned = train_kind(store, scheme, "spans", base=str(tiny_encoder_dir), reuse=False)
    check = read_meta(pinned.folder).extra["engine"]
    assert not check["passed"] and "of spans unchanged" in check["failures"][0]
    tagger = load_predictor("spans", pinned.folder)
    assert tagger.engine == "torch"
    assert any("changes its suggestions too much" in line for line in engine.notes())
    from annotator.ml.train import evaluate_spans
    from annotator.services.training import gold_examples, split

    _, _, test_side = split(store, gold_examples(store, scheme))
    assert evaluate_spans(tagger, test_side)["partial_f1"] == pytest.approx(pinned.metrics["partial_f1"])
    store.close()


def test_versions_trained_before_the_engine_are_checked_on_first_use(tmp_path, tiny_encoder_dir, fresh_runners):
    from annotator.ml.registry import write_meta

    store = slogan_project(tmp_path / "s.db")
    outcome = train_kind(store, get_scheme(), "spans", base=str(tiny_encoder_dir))
    meta = read_meta(outcome.folder)
    del meta.extra["engine"]  # as a version saved before this change has it
    write_meta(outcome.folder, meta)
    load_predictor("spans", outcome.folder)
    assert "spans_unchanged" in read_meta(outcome.folder).extra["engine"]
    store.close()


def test_cosines_and_span_agreement():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert engine.cosines(a, a * 3) == pytest.approx([1.0, 1.0])
    assert engine.span_agreement([[(0, 3, "S")], []], [[(0, 3, "S"), (5, 7, "S")], []]) == pytest.approx(2 / 3)
    assert engine.span_agreement([[]], [[]]) == 1.0


def test_a_fine_tuned_version_says_it_runs_in_pytorch(tiny_frames_dir):
    load_predictor("frames", tiny_frames_dir)
    assert engine.notes() == [f"engine: PyTorch for {tiny_frames_dir.name}, a fine-tuned version "
                              "(the int8 engine runs the quick models)"]
    engine.set_engine("torch")
    load_predictor("frames", tiny_frames_dir)
    assert engine.notes() == []


@pytest.mark.parametrize(("flags", "preset", "chosen"), [
    (set(engine.AVX512_FLAGS) | {"avx2"}, "", "AVX512"),   # an AMD CPU with AVX-512: asked for
    ({"avx2", "avx512f"}, "", ""),                         # part of it only: CTranslate2 chooses
    (set(engine.AVX512_FLAGS), "AVX2", "AVX2"),            # the user's setting stands
])
def test_the_engine_asks_for_avx512_only_where_the_cpu_has_all_of_it(monkeypatch, flags, preset, chosen):
    monkeypatch.setattr(engine, "cpu_flags", lambda: flags)
    if preset:
        monkeypatch.setenv("CT2_FORCE_CPU_ISA", preset)
    else:
        monkeypatch.delenv("CT2_FORCE_CPU_ISA", raising=False)
    assert engine.choose_cpu_isa() == chosen
    import os

    assert os.environ.get("CT2_FORCE_CPU_ISA", "") == chosen

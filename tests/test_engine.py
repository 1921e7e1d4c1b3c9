"""The inference engine: encoders converted once to CTranslate2 and checked per CPU against
float32 PyTorch, the precision each model version runs at chosen by its score on labelled
segments, batching that leaves each text's output alone, and PyTorch as the fallback, always
with a reason."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from _ml_fixtures import tiny_encoder_dir, tiny_frames_dir  # noqa: F401
from test_span_linear import slogan_project

from annotator.ml import engine, engine_checks
from annotator.ml.embeddings import embed_texts, text_key
from annotator.ml.predictors import load_predictor
from annotator.ml.registry import read_meta
from annotator.ml.span_linear import LinearSpanTagger
from annotator.schemes import get_scheme
from annotator.services.training import train_kind

# PyTorch's runner: without bf16 (the tests turn it off) it is the float32 reference itself
PYTORCH = "torch-fp32"
TEXTS = ["我们要建设网络强国。", "Take back control of our borders.", "La séance est levée.", "Крым наш."]


@pytest.fixture
def fresh_runners():
    engine.forget_runners()
    yield
    engine.forget_runners()


def test_an_encoder_is_converted_once_and_checked_per_cpu_and_runs_at_the_fastest_faithful_precision(
        tiny_encoder_dir, fresh_runners, _isolated_models):
    said = []
    runner = engine.encoder_runner(tiny_encoder_dir, texts=TEXTS, say=said.append)
    assert runner.name == "ct2-int8" and runner.precision == "int8"
    folder = engine.converted_dir(tiny_encoder_dir)
    assert folder.parent.parent.parent == _isolated_models  # models/engine/<encoder>/ct2-int8
    assert (folder / "model.bin").is_file() and not list(folder.glob("*.safetensors"))
    record = json.loads((folder / "engine.json").read_text())
    check = record["checks"][engine.cpu_signature()]
    assert check["precision"] == "int8" and check["tried"]["int8"]["texts"] == len(TEXTS)
    assert check["tried"]["int8"]["cosine_min"] >= engine.MIN_COSINE
    assert said[0].startswith("engine: converting") and "runs in CTranslate2 int8" in said[1]
    # the engine's embeddings are the float32 model's, to within the bar
    ours = embed_texts(tiny_encoder_dir, TEXTS)
    reference = embed_texts(tiny_encoder_dir, TEXTS, engine="float32")
    assert engine.cosines(ours, reference).min() >= engine.MIN_COSINE
    engine.forget_runners()
    again = []
    engine.encoder_runner(tiny_encoder_dir, texts=TEXTS, say=again.append)
    assert again == []  # converted and checked once


def test_a_checked_conversion_is_checked_again_on_another_cpu(tiny_encoder_dir, fresh_runners, monkeypatch):
    engine.encoder_runner(tiny_encoder_dir, texts=TEXTS)
    engine.forget_runners()
    monkeypatch.setattr(engine, "cpu_signature", lambda: "AuthenticAMD onednn avx2")
    said = []
    assert engine.encoder_runner(tiny_encoder_dir, texts=TEXTS, say=said.append).name == "ct2-int8"
    assert len(said) == 1 and "runs in CTranslate2 int8" in said[0]  # checked, not converted again
    checks = json.loads((engine.converted_dir(tiny_encoder_dir) / "engine.json").read_text())["checks"]
    assert "AuthenticAMD onednn avx2" in checks and len(checks) == 2


class NoisyInt8(engine.Ct2Encoder):
    """The engine on a CPU whose int8 kernels lose far more than any real one."""

    def forward(self, ids):
        hidden = super().forward(ids)
        if self.precision == "int8":
            hidden = hidden + np.random.default_rng(len(ids)).normal(0, 5 * hidden.std(), hidden.shape)
        return hidden


def test_where_int8_falls_under_the_bar_the_next_precision_runs_and_says_why(tiny_encoder_dir, fresh_runners,
                                                                             monkeypatch):
    monkeypatch.setattr(engine, "Ct2Encoder", NoisyInt8)
    said = []
    runner = engine.encoder_runner(tiny_encoder_dir, texts=TEXTS, say=said.append)
    second = engine.precisions()[1]  # int16 where MKL runs it (Intel), float32 elsewhere
    assert runner.name == f"ct2-{second}"
    assert f"runs in CTranslate2 {second} (int8: embedding cosine to float32" in said[-1]
    assert engine.notes() == []  # not a fallback to PyTorch


def test_a_conversion_no_precision_keeps_faithful_is_deleted_and_pytorch_runs(tiny_encoder_dir, fresh_runners,
                                                                               monkeypatch):
    monkeypatch.setattr(engine, "MIN_COSINE", 1.01)  # no precision reaches it
    assert engine.runner_name(tiny_encoder_dir) == PYTORCH
    [line] = engine.notes()
    assert "no precision of CTranslate2 keeps its embeddings faithful enough" in line and "< 1.01" in line
    folder = engine.converted_dir(tiny_encoder_dir)
    assert not (folder / "model.bin").exists() and (folder / "engine.json").is_file()  # weights gone, reason kept
    engine.forget_runners()

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(engine, "_convert", no_second_conversion)
    assert engine.runner_name(tiny_encoder_dir) == PYTORCH


def test_a_texts_output_does_not_depend_on_the_batch_it_is_in_or_on_the_threads(tiny_encoder_dir, fresh_runners,
                                                                                 monkeypatch):
    """Through the engine, texts are batched only with texts of the same token length: nothing is
    padded, so a text's vector and token states are the same alone, among others and whatever
    the number of threads, bit for bit, on every CPU."""
    from annotator.ml.token_states import clear_memory, token_states

    texts = [*TEXTS, "Short.", "A much longer sentence that pads every other text in its batch a great deal.",
             "Une autre.", "Еще одна фраза о границах и рабочих местах."]
    together = embed_texts(tiny_encoder_dir, texts)
    alone = np.vstack([embed_texts(tiny_encoder_dir, [t]) for t in texts])
    assert np.array_equal(together, alone)
    states = token_states(tiny_encoder_dir, texts, 1)
    clear_memory()
    assert all(np.array_equal(a.states, b.states) for a, b in zip(states, [token_states(tiny_encoder_dir, [t], 1)[0]
                                                                           for t in texts]))
    engine.forget_runners()
    monkeypatch.setattr(engine, "threads", lambda: 1)
    assert np.array_equal(embed_texts(tiny_encoder_dir, texts), together)


def test_equal_length_batches_never_mix_lengths():
    from annotator.ml.batching import equal_length_batches

    batches = equal_length_batches([3, 1, 3, 3, 2, 1], 2)
    assert batches == [[1, 5], [4], [0, 2], [3]]
    assert sorted(i for b in batches for i in b) == list(range(6))


def test_pytorch_when_asked_or_when_the_engine_cannot_run_with_one_line_why(tiny_encoder_dir, fresh_runners,
                                                                            monkeypatch):
    engine.set_engine("torch")
    assert engine.runner_name(tiny_encoder_dir) == PYTORCH and engine.notes() == []
    engine.set_engine("auto")
    monkeypatch.setattr(engine, "ct2_missing", lambda: "the ctranslate2 package is not installed (pip install ctranslate2)")
    assert engine.runner_name(tiny_encoder_dir) == PYTORCH
    assert engine.notes() == ["engine: PyTorch, because the ctranslate2 package is not installed "
                              "(pip install ctranslate2)"]


def test_a_failed_conversion_falls_back_instead_of_crashing(tiny_encoder_dir, fresh_runners, monkeypatch):
    from ctranslate2 import converters

    def unsupported(self, *args, **kwargs):  # what the converter says of an architecture it lacks
        raise ValueError("No conversion is registered for the model configuration NoSuchModel")

    monkeypatch.setattr(converters.TransformersConverter, "convert", unsupported)
    assert engine.runner_name(tiny_encoder_dir) == PYTORCH
    [line] = engine.notes()
    assert "its conversion failed: No conversion is registered" in line
    assert not engine.converted_dir(tiny_encoder_dir).exists()  # nothing half-written left


def test_the_store_keeps_each_engines_vectors_apart():
    assert text_key("x", "query: ", 128) != text_key("x", "query: ", 128, "ct2-int8")
    assert text_key("x", "query: ", 128) == text_key("x", "query: ", 128, "torch")  # older vectors keep their keys


def test_training_chooses_the_precision_by_the_versions_score_and_says_so_in_one_line(
        tmp_path, tiny_encoder_dir, fresh_runners):
    store = slogan_project(tmp_path / "s.db")
    outcome = train_kind(store, get_scheme(), "spans", base=str(tiny_encoder_dir))
    check = read_meta(outcome.folder).extra["engine"]
    assert check["precision"] == "int8" and check["passed"] and check["metric"] == "partial_f1"
    entry = check["tried"]["int8"]
    assert entry["float32"] - entry["score"] <= entry["tolerance"] and entry["tolerance"] >= engine.MIN_TOLERANCE
    assert check["checked_on"] == min(engine.CHECK_TEXTS, outcome.sizes["dev"] + outcome.sizes["train"])
    assert check["dev"] == outcome.sizes["dev"]  # dev first
    assert check["line"].startswith("spans: runs in CTranslate2 int8 (partial F1 on ")
    assert f"engine: linear {check['line']}" in engine.notes()
    assert load_predictor("spans", outcome.folder).engine == "ct2-int8"  # pinned to what was checked
    store.close()


def failing(precisions: set[str], calibrated_pass: bool = False):
    """``compare`` as on a CPU where these precisions move a version's score beyond noise."""
    real = engine_checks.compare
    calls = []

    def compare(score, reference, ours, n):
        result = real(score, reference, ours, n)
        precision = engine_checks_precision[0]
        calls.append(precision)
        if precision in precisions and not (calibrated_pass and calls.count(precision) == 2):
            result = {**result, "passed": False}
        return result

    return compare


engine_checks_precision = [""]


@pytest.fixture
def track_precision(monkeypatch):
    """Which precision a check is scoring (the model's engine when decisions are made)."""
    real = engine_checks.decisions

    def decisions(model, kind, texts):
        engine_checks_precision[0] = (model.engine or "")[4:]
        return real(model, kind, texts)

    monkeypatch.setattr(engine_checks, "decisions", decisions)


def tagger_thresholds_kept(folder):
    return read_meta(folder).extra.get("engine_thresholds")


def test_a_version_the_engine_moves_beyond_noise_at_every_precision_runs_in_pytorch(
        tmp_path, tiny_encoder_dir, fresh_runners, monkeypatch, track_precision):
    store = slogan_project(tmp_path / "s.db")
    scheme = get_scheme()
    monkeypatch.setattr(engine_checks, "compare", failing(set(engine.PRECISIONS)))
    pinned = train_kind(store, scheme, "spans", base=str(tiny_encoder_dir), reuse=False)
    check = read_meta(pinned.folder).extra["engine"]
    assert not check["passed"] and check["precision"] is None
    assert set(check["tried"]) == set(engine.precisions())  # each tried, fastest first:
    tried_in_order = re.findall(r"(?:^|, )(\w+) \d", check["line"].split("; ")[1])
    assert tried_in_order == engine.precisions()
    assert all(entry["calibrated"] for entry in check["tried"].values())  # the tagger's thresholds tried too
    assert not tagger_thresholds_kept(pinned.folder)
    assert "runs in PyTorch, as no precision of CTranslate2 scores within noise" in check["line"]
    tagger = load_predictor("spans", pinned.folder)
    assert tagger.engine == "torch"
    assert any("changes its suggestions too much" in line for line in engine.notes())
    from annotator.ml.scoring import evaluate_spans
    from annotator.services.evaluation.sides import gold_examples, split

    _, _, test_side = split(store, gold_examples(store, scheme))
    assert evaluate_spans(tagger, test_side)["partial_f1"] == pytest.approx(pinned.metrics["partial_f1"])
    store.close()


def test_a_slogan_tagger_moved_by_int8_keeps_int8_with_thresholds_tuned_on_its_own_states(
        tmp_path, tiny_encoder_dir, fresh_runners, monkeypatch, track_precision):
    store = slogan_project(tmp_path / "s.db")
    monkeypatch.setattr(engine_checks, "compare", failing({"int8"}, calibrated_pass=True))
    outcome = train_kind(store, get_scheme(), "spans", base=str(tiny_encoder_dir), reuse=False)
    check = read_meta(outcome.folder).extra["engine"]
    assert check["precision"] == "int8" and check["tried"]["int8"]["calibrated"]["passed"]
    assert check["tried"]["int8"]["calibrated"]["used"]
    assert "with thresholds tuned on its own dev states, used" in check["line"]
    tagger = load_predictor("spans", outcome.folder)
    tuned = read_meta(outcome.folder).extra["engine_thresholds"]["int8"]
    assert tagger.engine == "ct2-int8" and tagger.current_thresholds() == (tuned["token_thresholds"],
                                                                           tuned["thresholds"])
    tagger.engine = "torch"  # in PyTorch, the thresholds it was fitted with
    assert tagger.current_thresholds() == (tagger.token_thresholds, tagger.thresholds)
    store.close()


def test_versions_trained_before_the_checks_are_checked_on_first_use(tmp_path, tiny_encoder_dir, fresh_runners):
    from annotator.ml.registry import write_meta

    store = slogan_project(tmp_path / "s.db")
    outcome = train_kind(store, get_scheme(), "spans", base=str(tiny_encoder_dir))
    meta = read_meta(outcome.folder)
    del meta.extra["engine"]  # as a version saved before this change has it
    write_meta(outcome.folder, meta)
    load_predictor("spans", outcome.folder)
    check = read_meta(outcome.folder).extra["engine"]
    assert check["metric"] == "unchanged" and check["precision"] in engine.precisions()
    store.close()


def test_a_record_from_before_precisions_keeps_its_verdict(tmp_path, tiny_encoder_dir, fresh_runners):
    from annotator.ml.registry import write_meta

    store = slogan_project(tmp_path / "s.db")
    outcome = train_kind(store, get_scheme(), "spans", base=str(tiny_encoder_dir))
    meta = read_meta(outcome.folder)
    meta.extra["engine"] = {"engine": "ct2-int8", "passed": False, "failures": ["94.6% of spans unchanged < 95%"]}
    write_meta(outcome.folder, meta)
    assert load_predictor("spans", outcome.folder).engine == "torch"
    meta.extra["engine"] = {"engine": "ct2-int8", "passed": True, "failures": []}
    write_meta(outcome.folder, meta)
    assert load_predictor("spans", outcome.folder).engine is None  # the process's engine
    store.close()


def test_cosines_and_span_agreement():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert engine.cosines(a, a * 3) == pytest.approx([1.0, 1.0])
    assert engine_checks.span_agreement([[(0, 3, "S")], []], [[(0, 3, "S"), (5, 7, "S")], []]) == pytest.approx(2 / 3)
    assert engine_checks.span_agreement([[]], [[]]) == 1.0


def test_the_noise_of_a_comparison_grows_with_the_disagreement():
    """Identical decisions: the floor; decisions that differ on many segments: a wider band."""
    truth = [[(0, 3, "S")] if i % 2 else [] for i in range(40)]
    examples = [type("E", (), {"spans": t})() for t in truth]
    model = type("M", (), {"span_labels": {"S"}})()
    score = engine_checks.scorer("spans", model, examples)
    same = engine_checks.compare(score, truth, truth, len(truth))
    assert same["passed"] and same["tolerance"] == engine.MIN_TOLERANCE and same["score"] == same["float32"] == 1.0
    half = [[] if i % 4 == 1 else t for i, t in enumerate(truth)]  # half the slogans missed
    worse = engine_checks.compare(score, truth, half, len(truth))
    assert worse["tolerance"] > engine.MIN_TOLERANCE and not worse["passed"]


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


ALONE_AND_TOGETHER = """
import sys
import numpy as np
from annotator.ml import engine
from annotator.ml.embeddings import embed_texts
from annotator.ml.token_states import clear_memory, token_states
folder, texts = sys.argv[1], sys.argv[2:]
together = embed_texts(folder, texts)
alone = np.vstack([embed_texts(folder, [t]) for t in texts])
states = token_states(folder, texts, 8)
clear_memory()
states_alone = [token_states(folder, [t], 8)[0] for t in texts]
print(engine.runner_name(folder), float(np.abs(together - alone).max()),
      max(float(np.abs(a.states - b.states).max()) for a, b in zip(states, states_alone)))
"""


@pytest.mark.slow
def test_the_default_encoders_output_does_not_depend_on_its_batch_with_the_kernels_amd_cpus_get(tmp_path):
    """oneDNN's int8 kernels (what CTranslate2 runs on AMD CPUs, and here with ``CT2_USE_MKL=0``)
    let padded rows change the other rows of a batch: batched with longer texts, a text's states
    moved by up to 0.07 on the default encoder. Batches of one token length leave them alone."""
    import os
    import subprocess
    import sys

    from _ml_fixtures import multilingual_sentences

    from annotator.ml.encoder_setup import ensure_default_encoder

    models = tmp_path / "models"
    folder = ensure_default_encoder(root=models)
    texts = multilingual_sentences()[:48]
    env = {**os.environ, "ANNOTATOR_MODELS": str(models), "CT2_USE_MKL": "0", "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", ALONE_AND_TOGETHER, str(folder), *texts], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    name, vectors, states = out.stdout.split()
    assert name == "ct2-int8" and float(vectors) == 0.0 and float(states) == 0.0

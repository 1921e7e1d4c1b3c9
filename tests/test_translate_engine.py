"""Translation through CTranslate2 (int8): conversion into the version's folder with its check,
the engine's translations against PyTorch's greedy ones, and every way back to PyTorch."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from _ml_fixtures import (  # noqa: F401  (session fixtures are used by name)
    make_tiny_translation_model,
    multilingual_sentences,
    tiny_m2m100_dir,
    tiny_marian_dir,
)
from click.testing import CliRunner

from annotator.cli import cli
from annotator.errors import UnsafeModelError
from annotator.ml import engine, translate_engine
from annotator.ml.registry import ModelMeta, write_meta
from annotator.ml.translate import Translator
from annotator.ml.translate_engine import MIN_SIMILARITY, compare, engine_dir, similarity
from annotator.store import Store

TEXTS = multilingual_sentences()[::23][:10]  # Chinese, French, Russian, Arabic, English


@pytest.fixture
def quick_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shorter conversion check where the test is not about the check itself."""
    monkeypatch.setattr(translate_engine, "CHECK_TEXTS", 6)
    monkeypatch.setattr(translate_engine, "CHECK_MAX_NEW_TOKENS", 24)


def version_copy(source: Path, where: Path) -> Path:
    """A saved version of its own (not the session's), without any conversion of it."""
    folder = where / source.name
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("engine"))
    return folder


@pytest.fixture(scope="module")
def input_sensitive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny Marian and M2M100 models whose output depends on their input (wider random weights)."""
    root = tmp_path_factory.mktemp("sensitive")
    return {family: make_tiny_translation_model(root / f"{family}-sensitive", family, init_std=0.5)
            for family in ("marian", "m2m100", "nllb", "mbart50")}


def torch_greedy(folder: Path, texts: list[str], lang: str, **kw) -> list[str]:
    return Translator(folder, engine="torch").translate(texts, lang, num_beams=1, **kw)


# --- the engine's translations ------------------------------------------------------------------


@pytest.mark.parametrize("family", ["marian", "m2m100", "nllb", "mbart50"])
def test_float32_conversion_gives_pytorchs_greedy_output_exactly(
        family: str, input_sensitive: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        quick_check: None) -> None:
    """Without quantisation the engine is the same function: identical translations of inputs
    that translate differently, so the tokens in (language codes, Marian's prefix), the length
    limit (where Marian and mBART force their end token) and the decoding out all match
    PyTorch's. mBART converts although transformers 5 leaves its norm placement out of the config."""
    monkeypatch.setattr(engine, "COMPUTE_TYPE", "float32")
    folder = version_copy(input_sensitive[family], tmp_path)
    translator = Translator(folder)
    assert translator.engine == "ct2" and (folder / "engine" / "ct2-float32" / "model.bin").is_file()
    lang = "fr"
    for max_new_tokens in (5, 24):  # at 5 every output hits the limit, where Marian forces its end token
        ours = translator.translate(TEXTS, lang, max_new_tokens=max_new_tokens)
        assert ours == torch_greedy(folder, TEXTS, lang, max_new_tokens=max_new_tokens)
    assert len(set(ours)) >= 5  # the source text matters: not one output for every input
    record = engine.read_engine_json(engine_dir(folder))
    assert record["passed"] and record["check"]["identical"] == record["check"]["texts"] == 6


@pytest.mark.parametrize("family", ["marian", "m2m100"])
def test_int8_translations_pass_their_check_here_and_do_not_depend_on_their_batch(
        family: str, request: pytest.FixtureRequest) -> None:
    """int8 is checked against PyTorch on this CPU at conversion; text by text, a random tiny
    model's int8 output differs from PyTorch's as each CPU's kernels round (bit-equal text is
    what float32 gives: the test above). What holds on every CPU: the check passed, a text's
    translation is the same alone and among others, empty stays empty, no language code."""
    folder = request.getfixturevalue(f"tiny_{family}_dir")
    translator = Translator(folder)
    assert translator.engine == "ct2"
    record = engine.read_engine_json(engine_dir(folder))
    assert record["passed"] and record["quantization"] == "int8" and record["check"]["source"] == "probes"
    assert record["check"]["empty_where_pytorch_is_not"] == 0 and record["check"]["similarity_mean"] >= MIN_SIMILARITY
    texts = ["Крым наш.", "", "  ", "La France est une grande nation.", "我们要建设网络强国。",
             "Nous défendrons la République et ses valeurs, toutes ses valeurs, partout."]
    lang = "ru" if family == "marian" else "zh"
    ours = translator.translate(texts, lang, max_new_tokens=12)
    assert len(ours) == len(texts) and ours[1] == ours[2] == ""
    assert all(isinstance(t, str) and t for t in ours[:1] + ours[3:])
    assert ours == [translator.translate([t], lang, max_new_tokens=12)[0] for t in texts]
    assert "__en__" not in " ".join(ours)  # the forced language code is not part of the text


def test_converted_once_and_loaded_after(tiny_marian_dir: Path, tmp_path: Path, quick_check: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = version_copy(tiny_marian_dir, tmp_path)
    assert Translator(folder).engine == "ct2"
    [line] = engine.notes()
    assert "converted to CTranslate2 int8 on first use" in line and "identical to PyTorch's greedy output" in line
    assert not list((folder / "engine").glob(".staging-*"))  # staged, then renamed into place

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted twice")

    monkeypatch.setattr(translate_engine, "convert", no_second_conversion)
    translate_engine.clear_cache()
    assert Translator(folder).engine == "ct2" and engine.notes() == []


# --- back to PyTorch ----------------------------------------------------------------------------


def test_torch_setting_runs_pytorch_and_converts_nothing(tiny_marian_dir: Path, tmp_path: Path) -> None:
    folder = version_copy(tiny_marian_dir, tmp_path)
    engine.set_engine("torch")
    translator = Translator(folder)
    assert translator.engine == "torch" and translator.ct2 is None
    assert translator.translate(["Крым наш."], "ru", max_new_tokens=4)[0]
    assert not (folder / "engine").exists()
    assert engine.notes() == [f"translation model {folder.name}: PyTorch, as the engine is set to torch"]


def test_without_ctranslate2_pytorch_runs_with_a_note(tiny_marian_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = version_copy(tiny_marian_dir, tmp_path)
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 → ImportError
    translator = Translator(folder)
    assert translator.engine == "torch"
    assert translator.translate(["Крым наш."], "ru", max_new_tokens=4)[0]
    assert not (folder / "engine").exists()
    [line] = engine.notes()
    assert "PyTorch" in line and "ctranslate2 package is not installed" in line


def test_a_folder_that_is_no_saved_version_is_not_written_to(tiny_marian_dir: Path, tmp_path: Path) -> None:
    folder = version_copy(tiny_marian_dir, tmp_path)
    (folder / "meta.json").unlink()  # a checkpoint folder of someone else's (the hub cache, say)
    assert Translator(folder).engine == "torch"
    assert not (folder / "engine").exists()
    assert "not a saved model version" in engine.notes()[0]


def test_pickled_weights_are_refused_before_any_conversion(tiny_marian_dir: Path, tmp_path: Path) -> None:
    folder = version_copy(tiny_marian_dir, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"never unpickled, never converted")
    with pytest.raises(UnsafeModelError, match="pytorch_model.bin"):
        Translator(folder)
    assert not (folder / "engine").exists()


def test_an_architecture_ctranslate2_cannot_convert_falls_back(tiny_marian_dir: Path, tmp_path: Path) -> None:
    from transformers import BlenderbotSmallConfig, BlenderbotSmallForConditionalGeneration

    folder = version_copy(tiny_marian_dir, tmp_path)
    translator = Translator(folder, engine="torch")
    tok = translator.tokenizer
    for name in ("model.safetensors", "config.json", "generation_config.json"):
        (folder / name).unlink(missing_ok=True)
    config = BlenderbotSmallConfig(
        vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id, d_model=32, encoder_layers=1,
        decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=600)
    BlenderbotSmallForConditionalGeneration(config).save_pretrained(folder)

    translator = Translator(folder)
    assert translator.engine == "torch"
    assert translator.translate(["Крым наш."], "ru", max_new_tokens=4)[0]
    [line] = engine.notes()
    assert "PyTorch, as CTranslate2 cannot convert it" in line and "BlenderbotSmallConfig" in line
    assert "\n" not in line and "supported configurations" not in line  # one short line
    record = engine.read_engine_json(engine_dir(folder))
    assert record["passed"] is False and record["error"].startswith("ValueError")
    assert not (engine_dir(folder) / "model.bin").exists()
    # recorded: the next load does not try again, and says why once more
    assert Translator(folder).engine == "torch" and "cannot convert" in engine.notes()[0]


def test_a_conversion_below_the_bar_is_not_used_unless_ct2_is_asked_for(
        tiny_marian_dir: Path, tmp_path: Path, quick_check: None, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = version_copy(tiny_marian_dir, tmp_path)
    real_generate = translate_engine.Ct2Seq2Seq.generate
    monkeypatch.setattr(translate_engine.Ct2Seq2Seq, "generate",
                        lambda self, sources, *a: [[] for _ in sources])  # a broken engine: nothing comes out
    translator = Translator(folder)
    assert translator.engine == "torch"
    record = engine.read_engine_json(engine_dir(folder))
    assert record["passed"] is False and record["check"]["empty_where_pytorch_is_not"] == record["check"]["texts"] == 6
    assert (engine_dir(folder) / "model.bin").is_file()  # kept: ct2 may still be asked for
    [line] = engine.notes()
    assert "fell short of the bar" in line and "6 of 6 translations empty" in line

    monkeypatch.setattr(translate_engine.Ct2Seq2Seq, "generate", real_generate)
    engine.set_engine("ct2")
    assert Translator(folder).engine == "ct2"
    assert "although its conversion fell short" in engine.notes()[0]


# --- the bar ------------------------------------------------------------------------------------


def test_the_bar_allows_a_word_or_two_but_not_empty_or_unrelated_output() -> None:
    reference = ["We will defend the Republic.", "The economy is growing.", "Yes we can."]
    close = ["We shall defend the Republic.", "The economy is growing.", "Yes, we can."]
    check = compare(reference, close)
    assert check.passed and check.identical == 1 and check.similarity_mean > 0.9
    empty = compare(reference, ["", *reference[1:]])
    assert not empty.passed and empty.empty == 1 and "empty" in empty.failures()[0]
    unrelated = compare(reference, ["Le chat dort.", "Ich bin hier.", "Qué tal"])
    assert not unrelated.passed and "similarity" in unrelated.failures()[0]
    assert compare(["", "x"], ["", "x"]).passed  # empty where PyTorch is empty too is no fault
    assert not compare([], []).passed  # nothing checked proves nothing


def test_probe_target_is_english_or_a_multi_target_models_own(tmp_path: Path) -> None:
    folder = make_tiny_translation_model(tmp_path / "marian-multi", "marian", [">>fr<<", ">>de<<"])
    translator = Translator(folder, engine="torch")
    assert translator.probe_target() == "de"
    chosen = translate_engine.choose_texts(translator, list(translate_engine.PROBES), "de")
    assert len(chosen) == translate_engine.CHECK_TEXTS and all(lang != "de" for lang, _ in chosen)
    assert len({lang for lang, _ in chosen}) >= 10  # one language after another, not the first 16


# --- `annotator models use` and `annotator suggest` ---------------------------------------------


def project_with_segments(db: Path) -> None:
    store = Store.open(db)
    for i, (lang, text) in enumerate([("fr", "La France est une grande nation."), ("ru", "Мы защитим нашу Родину."),
                                      ("zh", "我们要建设网络强国。"), ("en", "Make America great again!")]):
        store.add_speech({"content_hash": f"{i}" * 64, "text": text, "language": lang},
                         [{"start": 0, "end": len(text), "text": text, "language": lang}])
    store.close()


def saved_version(source: Path, models: Path) -> Path:
    folder = models / "translation" / "translation-tiny"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("engine"))
    write_meta(folder, ModelMeta(kind="translation", version=folder.name, base="tiny-marian", method="test"))
    return folder


def test_models_use_converts_with_the_projects_texts_and_suggest_translates(
        tiny_marian_dir: Path, tmp_path: Path, _isolated_models: Path, quick_check: None) -> None:
    db = tmp_path / "p.db"
    project_with_segments(db)
    folder = saved_version(tiny_marian_dir, _isolated_models)
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "use", folder.name, "--db", str(db)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "converting translation-tiny to CTranslate2 int8 (once)…"
    assert lines[1] == "checking the conversion against PyTorch on up to 6 texts…"
    assert lines[2].startswith("translation engine: CTranslate2 int8, ") and lines[2].endswith("used for translation")
    assert lines[3].startswith("active translation model: translation-tiny")
    record = engine.read_engine_json(engine_dir(folder))
    assert record["passed"] and record["check"]["source"] == "project" and record["check"]["texts"] == 3  # fr, ru, zh
    assert record["conversion_seconds"] > 0

    again = runner.invoke(cli, ["models", "use", folder.name, "--db", str(db)])
    assert "translation engine: converted already" in again.output

    result = runner.invoke(cli, ["suggest", "--db", str(db), "--no-setup"])  # translations only
    assert result.exit_code == 0, result.output
    assert "PyTorch" not in result.output  # the engine translated: no line about a fallback
    store = Store.open(db)
    translated = [store.best_translation(s.id) for s in store.iter_segments() if s.language != "en"]
    assert all(t is not None and t.provenance == "model" and t.text for t in translated)


def test_models_use_under_torch_converts_nothing(tiny_marian_dir: Path, tmp_path: Path, _isolated_models: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "p.db"
    project_with_segments(db)
    folder = saved_version(tiny_marian_dir, _isolated_models)
    monkeypatch.setenv("ANNOTATOR_ENGINE", "torch")
    result = CliRunner().invoke(cli, ["models", "use", folder.name, "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "translation engine: PyTorch (the engine is set to torch); not converted" in result.output
    assert not (folder / "engine").exists()
    result = CliRunner().invoke(cli, ["suggest", "--db", str(db), "--no-setup"])  # translations only
    assert result.exit_code == 0, result.output
    assert "translation model translation-tiny: PyTorch, as the engine is set to torch" in result.output

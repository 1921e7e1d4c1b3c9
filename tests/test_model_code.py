"""A model folder is never code's way in: a folder that names code of its own (``auto_map`` in
its config or tokenizer config, Python files) or holds pickled weights is refused at ``models
use`` in one line, and no load ever imports such code, not even where someone would answer
"y" at transformers' own question whether to run it (every load says ``trust_remote_code=False``)."""

from __future__ import annotations

import ast
import builtins
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from _ml_fixtures import CODE_RAN, make_code_model, tiny_frames_dir  # noqa: F401 (fixtures)
from annotator.cli import cli
from annotator.errors import AnnotatorError, UnsafeModelError
from annotator.store import Store

PACKAGE = Path(__file__).resolve().parent.parent / "annotator"


@pytest.fixture
def answer_yes(monkeypatch, tmp_path):
    """As if a person at a terminal answered "y" to transformers' "Do you wish to run the custom
    code?"; code transformers would copy to run lands under tmp_path, not in ~/.cache."""
    from transformers import dynamic_module_utils

    asked = []

    def yes(*args, **kwargs):
        asked.append(args)
        return "y"

    monkeypatch.setattr(builtins, "input", yes)
    monkeypatch.setattr(dynamic_module_utils, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    return asked


def project(path: Path) -> Path:
    store = Store.open(path)
    text = "Nous défendrons la République."
    store.add_speech({"content_hash": "f" * 64, "text": text, "language": "fr"},
                     [{"start": 0, "end": len(text), "text": text, "language": "fr"}])
    store.close()
    return path


def active_models(db: Path) -> dict[str, str]:
    store = Store.open(db)
    try:
        return store.active_models()
    finally:
        store.close()


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1, result.output
    return result.stderr


# ------------------------------------------------------------------------------ models use
def test_models_use_refuses_a_version_whose_config_names_code_of_its_own(tmp_path, _isolated_models, answer_yes):
    db = project(tmp_path / "p.db")
    evil = make_code_model(_isolated_models / "translation" / "evil")
    result = CliRunner().invoke(cli, ["models", "use", "evil", "--db", str(db)])
    line = one_line_error(result)
    assert "config.json names code of its own" in line and "configuration_evil.EvilConfig" in line
    assert "never runs a model folder's code" in line
    assert not (evil / CODE_RAN).exists()
    assert "translation" not in active_models(db)


def test_models_use_refuses_a_tokenizer_that_names_code_of_its_own(tmp_path, _isolated_models, answer_yes):
    db = project(tmp_path / "p.db")
    evil = make_code_model(_isolated_models / "translation" / "evil-tokenizer", in_tokenizer=True)
    line = one_line_error(CliRunner().invoke(cli, ["models", "use", "evil-tokenizer", "--db", str(db)]))
    assert "tokenizer_config.json names code of its own" in line
    assert not (evil / CODE_RAN).exists()


def test_models_use_refuses_python_files_in_a_version(tmp_path, _isolated_models, tiny_frames_dir):
    db = project(tmp_path / "p.db")
    folder = _isolated_models / "frames" / "frames-with-code"
    shutil.copytree(tiny_frames_dir, folder)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    (folder / "meta.json").write_text(json.dumps({**meta, "version": folder.name}), encoding="utf-8")
    (folder / "modeling_custom.py").write_text("raise SystemExit('ran')\n", encoding="utf-8")
    line = one_line_error(CliRunner().invoke(cli, ["models", "use", folder.name, "--db", str(db)]))
    assert "holds Python code (modeling_custom.py)" in line
    assert "frames" not in active_models(db)


def test_models_use_refuses_pickled_weights_at_once(tmp_path, _isolated_models, tiny_frames_dir):
    """A saved version whose weights are a pickle, and a checkpoint folder with only
    pytorch_model.bin: both refused by `models use` saying why, not at the first load."""
    db = project(tmp_path / "p.db")
    version = _isolated_models / "frames" / "frames-pickled"
    shutil.copytree(tiny_frames_dir, version)
    meta = json.loads((version / "meta.json").read_text(encoding="utf-8"))
    (version / "meta.json").write_text(json.dumps({**meta, "version": version.name}), encoding="utf-8")
    (version / "model.safetensors").unlink()
    (version / "pytorch_model.bin").write_bytes(b"never unpickled")
    line = one_line_error(CliRunner().invoke(cli, ["models", "use", version.name, "--db", str(db)]))
    assert "weights are pickled (pytorch_model.bin)" in line and "safetensors" in line
    assert "frames" not in active_models(db)

    checkpoint = _isolated_models / "translation" / "opus-mt-pickled"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text('{"model_type": "marian"}', encoding="utf-8")
    (checkpoint / "pytorch_model.bin").write_bytes(b"never unpickled")
    line = one_line_error(CliRunner().invoke(cli, ["models", "use", checkpoint.name, "--db", str(db)]))
    assert "opus-mt-pickled: weights are pickled (pytorch_model.bin)" in line


def test_models_use_refuses_a_version_whose_encoder_brings_code(tmp_path, _isolated_models, tiny_frames_dir):
    """A quick frames model over an encoder that names code of its own: refused when it is
    made active, naming the encoder, not at the first suggestion."""
    db = project(tmp_path / "p.db")
    encoder = make_code_model(_isolated_models / "encoder" / "evil-encoder", kind="encoder")
    version = _isolated_models / "frames" / "frames-over-evil"
    shutil.copytree(tiny_frames_dir, version)
    meta = json.loads((version / "meta.json").read_text(encoding="utf-8"))
    (version / "meta.json").write_text(json.dumps({**meta, "version": version.name, "base": "encoder/evil-encoder"}),
                                       encoding="utf-8")
    line = one_line_error(CliRunner().invoke(cli, ["models", "use", version.name, "--db", str(db)]))
    assert "evil-encoder: config.json names code of its own" in line
    assert "frames" not in active_models(db) and not (encoder / CODE_RAN).exists()


# ---------------------------------------------------------------------------------- loading
def test_no_load_imports_a_folders_own_code(tmp_path, answer_yes):
    from transformers import AutoModel

    from annotator.ml.loading import load_model, load_tokenizer
    from annotator.ml.translate import Translator

    evil = make_code_model(tmp_path / "evil")
    evil_tokenizer = make_code_model(tmp_path / "evil-tokenizer", in_tokenizer=True)
    for load in (lambda: load_model(evil, AutoModel), lambda: Translator(evil, engine="torch"),
                 lambda: load_tokenizer(evil_tokenizer), lambda: load_model(evil_tokenizer, AutoModel)):
        with pytest.raises(UnsafeModelError) as caught:
            load()
        assert "\n" not in str(caught.value) and "code of its own" in str(caught.value)
    assert not (evil / CODE_RAN).exists() and not (evil_tokenizer / CODE_RAN).exists()


def test_even_past_the_folder_check_transformers_is_never_allowed_to_run_the_code(tmp_path, answer_yes,
                                                                                   monkeypatch):
    """Were the folder check to miss something, every load still says trust_remote_code=False:
    the code is not imported, and the load fails in one line."""
    from transformers import AutoModel

    from annotator.ml import engine, loading, registry, translate

    monkeypatch.setattr(registry, "check_no_code", lambda folder: None)  # every caller goes through registry
    evil = make_code_model(tmp_path / "evil")
    evil_tokenizer = make_code_model(tmp_path / "evil-tokenizer", in_tokenizer=True)
    loads = {
        "model": lambda: loading.load_model(evil, AutoModel),
        "config": lambda: translate._load_config(evil),
        "tokenizer": lambda: loading.load_tokenizer(evil_tokenizer),
        "engine conversion": lambda: engine.converter_class()(str(evil_tokenizer)).convert(
            str(tmp_path / "converted"), quantization="int8", force=True),
    }
    outcomes = {}
    for what, load in loads.items():
        try:
            load()
            outcomes[what] = "loaded without its code"
        except AnnotatorError as exc:
            assert "\n" not in str(exc), (what, exc)
            outcomes[what] = "refused in one line"
        except Exception as exc:  # only inside CTranslate2's converter, which the tool wraps (see engine)
            assert what == "engine conversion", (what, exc)
            outcomes[what] = "refused by the converter"
        assert not (evil / CODE_RAN).exists() and not (evil_tokenizer / CODE_RAN).exists(), what
    # the model and its config name code in config.json: without it there is no model to load
    assert outcomes["model"] == outcomes["config"] == "refused in one line", outcomes
    assert answer_yes == [], "transformers asked whether to run the code"


def test_every_from_pretrained_in_the_package_says_trust_remote_code_false():
    """The rule as the code states it: no load leaves transformers to decide (or to ask)."""
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "from_pretrained"):
                continue
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "GenerationConfig":
                continue  # reads generation_config.json only: no auto_map, no code
            said = [k for k in node.keywords if k.arg == "trust_remote_code"]
            if not (said and isinstance(said[0].value, ast.Constant) and said[0].value.value is False):
                missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert missing == []

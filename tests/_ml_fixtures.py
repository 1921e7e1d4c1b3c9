"""Tiny transformer models for tests, built offline in seconds.

Every builder writes a complete model folder (safetensors weights, config, tokenizer files,
``meta.json`` through the registry) into the folder it is given and returns it. Weights are
random (seeded), so predictions are arbitrary but deterministic: tests check plumbing (offsets,
order, shapes, language codes), not quality.

The session fixtures at the bottom build each model once per test run; import them into a test
module (``from _ml_fixtures import tiny_frames_dir``) to use them.
"""

from __future__ import annotations

import functools
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from annotator.ml.registry import ModelMeta, write_meta  # noqa: E402

FRAME_LABELS = [
    "Economic", "Capacity_and_resources", "Morality", "Fairness_and_equality",
    "Legality_Constitutionality_and_jurisprudence", "Policy_prescription_and_evaluation",
    "Crime_and_punishment", "Security_and_defense", "Health_and_safety", "Quality_of_life",
    "Cultural_identity", "Public_opinion", "Political", "External_regulation_and_reputation",
]
SPAN_LABELS = ["O", "B-Slogan", "I-Slogan"]
HIDDEN = 32

_BASE = {
    "zh": ["我们要建设网络强国。", "坚持党管互联网。", "实现中华民族伟大复兴的中国梦。", "人民对美好生活的向往就是我们的奋斗目标。",
           "经济发展进入新常态。", "全面依法治国是国家治理的一场深刻革命。", "绿水青山就是金山银山。",
           "我们必须坚持以人民为中心的发展思想。", "安全是发展的前提。", "文化自信是更基本的力量。"],
    "fr": ["La France est une grande nation.", "Nous défendrons la République.", "Liberté, égalité, fraternité !",
           "Le chômage recule dans nos régions.", "L'école doit protéger nos enfants.", "Il faut réformer les retraites.",
           "Notre économie a besoin d'investissements.", "La sécurité des Français est ma priorité.",
           "Nous sommes en guerre contre le virus.", "L'Europe doit être plus forte."],
    "ru": ["Россия великая страна.", "Мы защитим нашу Родину.", "Экономика растёт второй год подряд.",
           "Народ и армия едины.", "Крым наш.", "Мы должны укреплять традиционные ценности.",
           "Безопасность граждан превыше всего.", "Санкции не сломят нашу волю.",
           "Закон един для всех.", "Будущее принадлежит молодёжи."],
    "ar": ["مصر أم الدنيا.", "سنبني وطنا قويا.", "الشعب يريد إسقاط النظام.", "الاقتصاد يحتاج إلى إصلاح.",
           "أمن الوطن فوق كل اعتبار.", "التعليم حق لكل طفل.", "نحن أمة واحدة.", "العدالة أساس الملك.",
           "سنحارب الفساد بلا هوادة.", "المستقبل لشبابنا."],
    "en": ["Make America great again!", "Yes we can.", "Take back control.", "We will build the wall.",
           "The economy is growing faster than ever.", "Our schools need more teachers.",
           "Nobody is above the law.", "We must protect our borders.", "Health care is a right.",
           "The people have spoken."],
}


def multilingual_sentences() -> list[str]:
    """A few hundred short political sentences in Chinese, French, Russian, Arabic and English."""
    sentences = []
    for base in _BASE.values():
        sep = "" if base is _BASE["zh"] else " "
        sentences += [a + sep + b for a in base for b in base]
    return sentences


@functools.cache
def sentencepiece_model_bytes(vocab_size: int = 800) -> bytes:
    """A unigram sentencepiece model trained on :func:`multilingual_sentences` (cached)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(multilingual_sentences()),
        model_writer=buf,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        byte_fallback=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
        num_threads=1,  # deterministic
    )
    return buf.getvalue()


def make_tiny_tokenizer(folder: Path):
    """An XLM-R (fast) tokenizer over the test sentencepiece model, saved into ``folder``."""
    from transformers import XLMRobertaTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 builds a 5-token vocab from XLMRobertaTokenizer(vocab_file=…); loading the
    # folder with the file under its canonical name converts the real vocabulary.
    (folder / "sentencepiece.bpe.model").write_bytes(sentencepiece_model_bytes())
    tokenizer = XLMRobertaTokenizer.from_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


def _xlmr_config(tokenizer, **extra):
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=320,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **extra,
    )


def _save(model, folder: Path, meta: ModelMeta) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    write_meta(folder, meta)
    return folder


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def make_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A 2-layer, 32-wide XLM-R encoder (kind ``encoder``)."""
    import torch
    from transformers import XLMRobertaModel

    _quiet()
    folder = Path(folder)
    tokenizer = make_tiny_tokenizer(folder)
    torch.manual_seed(seed)
    model = XLMRobertaModel(_xlmr_config(tokenizer))
    return _save(model, folder, ModelMeta(kind="encoder", version=folder.name, base="tiny-xlmr", method="test"))


def make_tiny_frames_model(folder: Path, labels: Sequence[str] = FRAME_LABELS, seed: int = 0) -> Path:
    """A multi-label sequence classifier over ``labels`` (kind ``frames``, thresholds 0.5)."""
    import torch
    from transformers import XLMRobertaForSequenceClassification

    _quiet()
    folder = Path(folder)
    tokenizer = make_tiny_tokenizer(folder)
    config = _xlmr_config(
        tokenizer,
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = XLMRobertaForSequenceClassification(config)
    meta = ModelMeta(
        kind="frames", version=folder.name, base="tiny-xlmr", method="test",
        labels=list(labels), thresholds={name: 0.5 for name in labels},
    )
    return _save(model, folder, meta)


def make_tiny_spans_model(folder: Path, labels: Sequence[str] = SPAN_LABELS, seed: int = 0) -> Path:
    """A BIO token classifier (kind ``spans``) whose random head predicts a mix of B/I/O."""
    import torch
    from transformers import XLMRobertaForTokenClassification

    _quiet()
    folder = Path(folder)
    tokenizer = make_tiny_tokenizer(folder)
    config = _xlmr_config(
        tokenizer, id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)}
    )
    torch.manual_seed(seed)
    model = XLMRobertaForTokenClassification(config)
    with torch.no_grad():  # a wide head, so that different tokens get different labels
        model.classifier.weight.normal_(0.0, 3.0)
    meta = ModelMeta(kind="spans", version=folder.name, base="tiny-xlmr", method="test", labels=list(labels))
    return _save(model, folder, meta)


def _seq2seq_dims(init_std: float = 0.02, **dims: int) -> dict:
    return dict(
        d_model=HIDDEN, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=600,
        init_std=init_std,
    ) | dims


def _marian(folder: Path, target_tokens: Sequence[str], init_std: float, dims: dict):
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer
    import sentencepiece as spm

    raw = sentencepiece_model_bytes()
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(raw)
    sp = spm.SentencePieceProcessor(model_proto=raw)
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    for token in [*target_tokens, "<pad>"]:
        vocab.setdefault(token, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        tokenizer = MarianTokenizer(
            source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"), vocab=str(folder / "vocab.json")
        )
    config = MarianConfig(
        vocab_size=len(vocab), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, **_seq2seq_dims(init_std, **dims),
    )
    return tokenizer, MarianMTModel(config)


def _m2m100(folder: Path, init_std: float, dims: dict):
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer
    import sentencepiece as spm

    raw = sentencepiece_model_bytes()
    (folder / "sentencepiece.bpe.model").write_bytes(raw)
    sp = spm.SentencePieceProcessor(model_proto=raw)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for i in range(sp.get_piece_size()):
        vocab.setdefault(sp.id_to_piece(i), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = M2M100Tokenizer(vocab_file=str(folder / "vocab.json"), spm_file=str(folder / "sentencepiece.bpe.model"))
    # Language tokens and the "made-up words" sit after the sentencepiece vocabulary.
    vocab_size = max(tokenizer.lang_code_to_id.values()) + 1 + tokenizer.num_madeup_words
    config = M2M100Config(
        vocab_size=vocab_size, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, decoder_start_token_id=tokenizer.eos_token_id, **_seq2seq_dims(init_std, **dims),
    )
    return tokenizer, M2M100ForConditionalGeneration(config)


def _mbart50(folder: Path, init_std: float, dims: dict):
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    # As for XLM-R: the file under its canonical name, so that the real vocabulary is converted.
    (folder / "sentencepiece.bpe.model").write_bytes(sentencepiece_model_bytes())
    tokenizer = MBart50Tokenizer.from_pretrained(folder, bos_token="<s>")
    config = MBartConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id, tokenizer_class="MBart50Tokenizer",
        **_seq2seq_dims(init_std, **dims),
    )
    return tokenizer, MBartForConditionalGeneration(config)


def _nllb(folder: Path, init_std: float, dims: dict):
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    (folder / "sentencepiece.bpe.model").write_bytes(sentencepiece_model_bytes())
    tokenizer = NllbTokenizer.from_pretrained(folder, additional_special_tokens=list(FAIRSEQ_LANGUAGE_CODES))
    config = M2M100Config(  # NLLB-200 is an M2M100 model with its own tokenizer and codes (zho_Hans)
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
        **_seq2seq_dims(init_std, **dims),
    )
    return tokenizer, M2M100ForConditionalGeneration(config)


def make_tiny_translation_model(
    folder: Path, family: str = "marian", target_tokens: Sequence[str] = (), seed: int = 0, init_std: float = 0.02,
    dims: dict | None = None,
) -> Path:
    """A 1-layer seq2seq model (kind ``translation``): ``family`` is ``marian``, ``m2m100``, ``nllb``
    or ``mbart50``.

    ``target_tokens`` (Marian only, e.g. ``[">>fr<<", ">>de<<"]``) makes it a multi-target model.
    At the default ``init_std`` the random model says nearly the same whatever the input; at 0.5
    its output depends on the input (what a test comparing two engines needs). ``dims``
    overrides the sizes (``d_model``, ``encoder_layers``, …; the benchmark builds larger ones).
    """
    import torch

    _quiet()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if family == "marian":
        tokenizer, model = _marian(folder, target_tokens, init_std, dims or {})
    elif family == "m2m100":
        tokenizer, model = _m2m100(folder, init_std, dims or {})
    elif family == "nllb":
        tokenizer, model = _nllb(folder, init_std, dims or {})
    elif family == "mbart50":
        tokenizer, model = _mbart50(folder, init_std, dims or {})
    else:
        raise ValueError(f"unknown family {family!r}")
    tokenizer.save_pretrained(folder)
    meta = ModelMeta(kind="translation", version=folder.name, base=f"tiny-{family}", method="test")
    return _save(model, folder, meta)


CODE_RAN = "code-ran.txt"  # what a model folder's own code writes beside it when it is imported


def make_code_model(folder: Path, kind: str = "translation", in_tokenizer: bool = False) -> Path:
    """A model folder whose ``config.json`` (or, ``in_tokenizer``, only its ``tokenizer_config.json``)
    names code of its own through ``auto_map``, as Hugging Face repositories with custom code do:
    importing that code writes :data:`CODE_RAN` into the folder. It has safetensors weights and
    tokenizer files, so that nothing but the code tells it apart; a test asserts the file never
    appears. ``kind``: the version's kind (its meta.json says so)."""
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    if in_tokenizer:  # a real tiny encoder otherwise: only its tokenizer names code
        make_tiny_encoder(folder)
    else:
        make_tiny_tokenizer(folder)
    marker = folder / CODE_RAN
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
    (folder / "configuration_evil.py").write_text(
        payload + "from transformers import PretrainedConfig\n\n\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n", encoding="utf-8")
    (folder / "modeling_evil.py").write_text(payload, encoding="utf-8")
    (folder / "tokenization_evil.py").write_text(payload, encoding="utf-8")
    if in_tokenizer:
        tok_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        tok_config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
        tok_config["tokenizer_class"] = "EvilTokenizer"
        (folder / "tokenizer_config.json").write_text(json.dumps(tok_config), encoding="utf-8")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config.setdefault("position_embedding_type", "absolute")  # what CTranslate2's converter reads
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    else:
        config = {"model_type": "evil", "architectures": ["EvilModel"], "hidden_size": HIDDEN,
                  "auto_map": {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel",
                               "AutoModelForSeq2SeqLM": "modeling_evil.EvilModel"}}
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        save_file({"weight": torch.zeros(2, 2)}, str(folder / "model.safetensors"))
    write_meta(folder, ModelMeta(kind=kind, version=folder.name, base="evil", method="test"))
    return folder


# Session fixtures: each model is built once per test run.


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("models") / "encoder-tiny")


@pytest.fixture(scope="session")
def tiny_frames_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_frames_model(tmp_path_factory.mktemp("models") / "frames-tiny", FRAME_LABELS)


@pytest.fixture(scope="session")
def tiny_spans_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_spans_model(tmp_path_factory.mktemp("models") / "spans-tiny")


@pytest.fixture(scope="session")
def tiny_marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_translation_model(tmp_path_factory.mktemp("models") / "marian-tiny", "marian")


@pytest.fixture(scope="session")
def tiny_m2m100_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_translation_model(tmp_path_factory.mktemp("models") / "m2m100-tiny", "m2m100")


def assert_shared_like_new_files(folder: Path) -> None:
    """A published model folder reads like any folder made here (umask permissions), not
    mkdtemp's 0700 or safetensors' 0600: colleagues sharing ``models/`` can read it."""
    import stat

    from annotator.paths import UMASK

    for path in (folder, *folder.rglob("*")):
        want = (0o777 if path.is_dir() else 0o666) & ~UMASK
        assert stat.S_IMODE(path.stat().st_mode) == want, (path, oct(path.stat().st_mode))

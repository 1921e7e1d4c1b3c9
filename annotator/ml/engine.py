"""The inference engine: transformer encoders (and translation models) in CTranslate2 on the
CPU, PyTorch as the fallback and for training.

Which engine runs is one setting for the process: ``auto`` (the default: CTranslate2 where the
package is installed and the model converted, PyTorch otherwise, with one line saying why),
``ct2`` or ``torch``; ``annotator suggest --engine`` or ``$ANNOTATOR_ENGINE`` sets it.

A converted model is the engine's own format (``model.bin``, CTranslate2's weights file: no
pickles), its weights stored in int8, made once per model and kept under
``models/engine/<encoder key>/`` for a base encoder (cut to its first ``layers`` layers where a
head reads a middle layer), or inside a version's folder (``engine/``) for a fine-tuned or
translation model. CTranslate2 loads those weights at any precision it offers on the CPU
(:data:`PRECISIONS`, fastest first); which one runs is chosen per CPU, since int8's error is
the CPU's: AVX2 CPUs without VNNI (most AMD EPYCs) multiply int8 through 16-bit pair sums that
saturate, and their embeddings stray about twice as far from float32 as on AVX-512 VNNI ones
(worst cosine 0.9970 against 0.9983 on the demo's texts). ``engine.json`` beside the weights
keeps, per CPU (:func:`cpu_signature`), each precision's check and the one chosen:

* a base encoder takes the fastest precision whose embeddings keep a cosine of ``MIN_COSINE``
  to float32 PyTorch's on every check text: a bar that catches a broken conversion, far outside
  the spread of any precision on any CPU; whatever makes decisions from the embeddings checks
  them itself;
* a quick model version (frames over sentence embeddings, the slogan tagger over token states)
  takes the fastest precision at which its score on labelled segments (dev first) is within
  noise of its score with float32 PyTorch: :func:`check_version`, at training; the slogan
  tagger, whose token states move most, may have its thresholds tuned again on the engine's own
  states where that keeps its score.

A text's output does not depend on the batch it is in: the engine batches only texts of one
token length (oneDNN's int8 kernels, which CTranslate2 runs on AMD CPUs, let a padded row change
the others' states by up to 0.07), and each batch runs on one core, whatever the thread count.

CTranslate2 runs its own kernels (everything but the matrix products) with AVX-512 only on Intel
CPUs; on an AMD CPU with AVX-512 it falls back to AVX2. :func:`ct2` asks for AVX-512 wherever the
CPU has it (``CT2_FORCE_CPU_ISA``, unless the user set it).
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.batching import cpu_flags, cpu_vendor

ENGINES = ("auto", "ct2", "torch")
FLOAT32 = "float32"  # PyTorch without bf16 autocast: the reference of the checks (not a setting)
# The slogan tagger is fitted (and tuned on dev) on float32 PyTorch's token states and predicts
# through the engine: its check then measures exactly what the engine changes in its spans, on
# the states it was fitted on (kept in memory: the check computes no reference of its own).
TRAINING_ENGINE = FLOAT32
COMPUTE_TYPE = "int8"  # the weights a conversion stores (a quarter of float32's size)
# What CTranslate2 offers on a CPU, fastest first; each is tried where the one before fails its
# check. (On a CPU, int8 computes everything but the matrix products in float32: it is
# ``int8_float32``. int8_bfloat16 needs a CPU backend that has it; int16 needs Intel MKL.)
PRECISIONS = ("int8", "int8_bfloat16", "int16", "float32")
BATCH_SIZE = 8  # texts per engine batch: small batches side by side beat big ones on a CPU (bench_suggest)
ENGINE_FILE = "engine.json"
# A base encoder's embeddings at a precision must keep this cosine to float32's on every check
# text: int8's worst is 0.9970-0.9985 across CPUs, a broken conversion's far under 0.9.
MIN_COSINE = 0.99
# A version's score through the engine may be this much under float32's (or twice the paired
# bootstrap's standard error of the difference, where that is more): the noise of a dev set.
MIN_TOLERANCE = 0.01
BOOTSTRAP_SAMPLES = 200
CHECK_TEXTS = 128  # labelled segments a version is checked on: dev first, then train
ENCODER_CHECK_TEXTS = 64  # segments a conversion's embeddings are checked on (for a broken conversion: plenty)
# Only where a version has no labelled segments to be checked on (one trained before these
# checks): the share of its decisions the engine must leave as they are.
MIN_FRAMES_UNCHANGED = 0.99
MIN_SPANS_UNCHANGED = 0.95

_setting: str | None = None
_reporter: "ConvertProgress | None" = None
_notes: dict[str, str] = {}
_notes_lock = threading.Lock()


def set_engine(name: str) -> None:
    """Choose the engine for this process (``auto``, ``ct2`` or ``torch``)."""
    if name not in ENGINES:
        raise AnnotatorError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    global _setting
    _setting = name


def set_reporter(say: "ConvertProgress | None") -> None:
    """Where conversions made on first use say what they do (the CLI prints them)."""
    global _reporter
    _reporter = say


def engine_setting() -> str:
    """The process's engine: ``set_engine``, else ``$ANNOTATOR_ENGINE``, else ``auto``."""
    if _setting is not None:
        return _setting
    value = os.environ.get("ANNOTATOR_ENGINE", "auto").strip().lower() or "auto"
    if value not in ENGINES:
        raise AnnotatorError(f"ANNOTATOR_ENGINE={value!r} is not an engine; use one of {', '.join(ENGINES)}")
    return value


AVX512_FLAGS = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")  # what CTranslate2's AVX512 path needs


def choose_cpu_isa() -> str:
    """The ISA CTranslate2 dispatches its own kernels to: the user's ``CT2_FORCE_CPU_ISA``, else
    AVX512 where the CPU has every part of it that CTranslate2 uses, else CTranslate2's own choice
    (''). Set before CTranslate2 first runs (it reads the variable once)."""
    chosen = os.environ.get("CT2_FORCE_CPU_ISA", "")
    if not chosen and all(flag in cpu_flags() for flag in AVX512_FLAGS):
        chosen = os.environ["CT2_FORCE_CPU_ISA"] = "AVX512"
    return chosen


def ct2() -> Any:
    """The ``ctranslate2`` module, its CPU ISA chosen first (:func:`choose_cpu_isa`). Raises
    ImportError where it is not installed."""
    choose_cpu_isa()
    import ctranslate2

    return ctranslate2


def ct2_missing() -> str:
    """Why CTranslate2 cannot run here ('' if it can)."""
    try:
        ct2()
    except ImportError:
        return "the ctranslate2 package is not installed (pip install ctranslate2)"
    return ""


def note(key: str, text: str) -> None:
    """Remember one line about the engine (a fallback and why), once per key."""
    with _notes_lock:
        _notes.setdefault(key, text)


def notes(clear: bool = True) -> list[str]:
    """The engine's lines since the last call: what fell back to PyTorch, and why."""
    with _notes_lock:
        out = list(_notes.values())
        if clear:
            _notes.clear()
        return out


@functools.lru_cache(maxsize=1)
def threads() -> int:
    """The cores this process may use (``OMP_NUM_THREADS`` if set), read once: CTranslate2 and
    PyTorch share OpenMP, and a replica with one thread would otherwise leave PyTorch with one."""
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _give_torch_its_threads() -> None:
    import torch

    torch.set_num_threads(threads())


@dataclass
class Fidelity:
    """An encoder's embeddings at one precision against float32 PyTorch's, on real texts."""

    texts: int = 0
    cosine_min: float = 0.0
    cosine_mean: float = 0.0

    def failures(self) -> list[str]:
        if self.texts and self.cosine_min < MIN_COSINE:
            return [f"embedding cosine to float32 {self.cosine_min:.4f} < {MIN_COSINE}"]
        return []

    @property
    def passed(self) -> bool:
        return not self.failures()

    def to_json(self) -> dict[str, Any]:
        return {"texts": self.texts, "cosine_min": round(self.cosine_min, 6), "cosine_mean": round(self.cosine_mean, 6),
                "passed": self.passed, "failures": self.failures()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fidelity":
        return cls(**{k: data[k] for k in ("texts", "cosine_min", "cosine_mean") if k in data})


def precisions() -> list[str]:
    """The precisions CTranslate2 offers on this CPU, in :data:`PRECISIONS` order (fastest first)."""
    supported = set(ct2().get_supported_compute_types("cpu"))
    return [p for p in PRECISIONS if p in supported]


MATRIX_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")  # what decides int8's kernels
KERNEL_SETTINGS = ("CT2_USE_MKL", "CT2_FORCE_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def cpu_signature() -> str:
    """What decides the engine's kernels, and so its error, here: the CPU's vendor, the matrix
    library CTranslate2 uses (Intel MKL on Intel CPUs, oneDNN elsewhere, unless ``CT2_USE_MKL``
    says otherwise), the instruction sets int8 products can use, and any setting that limits
    them. A check made under one signature is made again under another."""
    choose_cpu_isa()
    vendor = cpu_vendor() or "unknown-cpu"
    use_mkl = os.environ.get("CT2_USE_MKL", "").strip().lower()
    mkl = use_mkl in ("1", "true", "yes", "on") if use_mkl else vendor == "GenuineIntel"
    flags = [flag for flag in MATRIX_FLAGS if flag in cpu_flags()]
    limits = [f"{name}={os.environ[name]}" for name in KERNEL_SETTINGS[1:] if os.environ.get(name)]
    return " ".join([vendor, "mkl" if mkl else "onednn", *flags, *limits])


def read_engine_json(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / ENGINE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_engine_json(folder: Path, data: dict[str, Any]) -> None:
    path = Path(folder) / ENGINE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two matrices of the same shape."""
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


ConvertProgress = Callable[[str], None]


# ------------------------------------------------------------------------------ encoders
# A few sentences in the demo's languages: what a conversion is checked on when the caller has
# no texts of its own (a project's texts are better: setup and training pass theirs).
PROBE_TEXTS = (
    "我们要坚持以人民为中心的发展思想，推动高质量发展。", "加快建设网络强国，维护国家安全和社会稳定。",
    "We must protect our borders and create jobs for every family.", "Nuclear war must not be fought.",
    "La séance est levée à dix-huit heures.", "Nous défendrons la République et ses valeurs.",
    "Экономика растёт второй год подряд, несмотря на санкции.", "Мы защитим нашу Родину.",
    "الشعب يريد إسقاط النظام والعدالة أساس الملك.", "Die 100. Sitzung des Bundestages ist eröffnet.",
    "Η Βουλή ενέκρινε την άδεια που ζητήθηκε.", "Il Senato approva la mozione con ampia maggioranza.",
)


class TorchEncoder:
    """An encoder in PyTorch: the fallback, and the float32 reference of the checks."""

    name = "torch"
    precision = "torch"
    parallel = 1  # PyTorch spreads one batch over every core itself
    batch_size = 16

    def __init__(self, encoder_dir: Path | str, layers: int | None = None, float32: bool = False) -> None:
        from transformers import AutoModel

        from annotator.ml.loading import load_model

        kwargs = {"num_hidden_layers": layers} if layers else {}
        self.model = load_model(encoder_dir, AutoModel, **kwargs)
        self.float32 = float32
        self.name = self.precision = "torch-fp32" if float32 else "torch"

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Length-sorted batches (PyTorch spreads each over every core: bigger is faster)."""
        from annotator.ml.batching import length_sorted_batches

        return length_sorted_batches(lengths, self.batch_size)

    def forward(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Last hidden states (batch x longest x hidden, float32) for token id lists."""
        import torch

        from annotator.ml.batching import inference_context

        width = max(len(row) for row in ids)
        input_ids = torch.zeros((len(ids), width), dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, row in enumerate(ids):
            input_ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        device = next(self.model.parameters()).device
        with torch.inference_mode() if self.float32 else inference_context(device.type):
            hidden = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        return hidden.float().cpu().numpy()


class Ct2Encoder:
    """An encoder converted to CTranslate2, loaded at one of :data:`PRECISIONS`."""

    def __init__(self, folder: Path, precision: str = COMPUTE_TYPE) -> None:
        ctranslate2 = ct2()
        self.folder = folder
        self.precision = precision
        self.name = f"ct2-{precision}"
        # one replica per core, each batch on one core, batches side by side (``parallel``): on
        # 2 cores 1.3-1.4x the throughput of one batch at a time over both cores; and a text's
        # states do not depend on how many threads there are
        self.parallel = threads()
        self.batch_size = BATCH_SIZE
        self.encoder = ctranslate2.Encoder(str(folder), device="cpu", compute_type=precision,
                                           inter_threads=self.parallel, intra_threads=1)
        _give_torch_its_threads()

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Batches of texts of one token length each: nothing padded, so that no text's states
        depend on the texts beside it (:func:`annotator.ml.batching.equal_length_batches`)."""
        from annotator.ml.batching import equal_length_batches

        return equal_length_batches(lengths, self.batch_size)

    def forward(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        output = self.encoder.forward_batch([list(row) for row in ids])
        return np.asarray(output.last_hidden_state, dtype=np.float32)


def encode(runner: Any, ids: Sequence[Sequence[int]], each: Callable[[int, np.ndarray], Any]) -> list[Any]:
    """``each(i, states)`` for every text's last hidden states (its tokens x hidden, float32), in
    input order, the runner's batches (``runner.batches``) ``runner.parallel`` at a time."""
    from annotator.ml.batching import map_batches

    lengths = [len(row) for row in ids]

    def run(batch: list[int]) -> list[Any]:
        hidden = runner.forward([ids[i] for i in batch])
        return [each(i, hidden[r, :lengths[i]]) for r, i in enumerate(batch)]

    return map_batches(range(len(ids)), runner.batches(lengths), run, workers=getattr(runner, "parallel", 1))


def encoder_depth(encoder_dir: Path | str) -> int:
    """How many layers the encoder has (from its config)."""
    config = json.loads((Path(encoder_dir) / "config.json").read_text(encoding="utf-8"))
    return int(config.get("num_hidden_layers") or config.get("n_layers") or config.get("num_layers") or 12)


def converted_dir(encoder_dir: Path | str, layers: int | None = None, root: Path | None = None) -> Path:
    """Where the engine keeps an encoder's conversion (cut to ``layers`` layers, if fewer)."""
    from annotator.ml.loading import weights_key
    from annotator.paths import models_dir

    depth = encoder_depth(encoder_dir)
    name = f"ct2-{COMPUTE_TYPE}" + (f"-L{layers}" if layers and layers < depth else "")
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in weights_key(encoder_dir))
    return (root or models_dir()) / "engine" / safe / name


WEIGHTS = ("model.bin", "config.json", "vocabulary.json", "vocabulary.txt", "shared_vocabulary.json",
           "shared_vocabulary.txt")


def convert_encoder(encoder_dir: Path | str, layers: int | None = None, texts: Sequence[str] = (),
                    say: ConvertProgress | None = None, root: Path | None = None) -> Path:
    """Convert an encoder (its first ``layers`` layers) to CTranslate2 once, and check it here
    (:func:`check_encoder_here`) on ``texts`` (or the probe sentences). Returns the converted
    folder; its ``engine.json`` says which precision runs on this CPU, if any."""
    final = converted_dir(encoder_dir, layers, root)
    record = read_engine_json(final)
    if record is not None and not (final / "model.bin").is_file() and cpu_signature() not in record.get("checks", {}):
        import shutil  # rejected on another CPU and its weights deleted: convert again for this one

        shutil.rmtree(final, ignore_errors=True)
        record = None
    if record is None:
        _convert(Path(encoder_dir), layers, final, say)
    check_encoder_here(final, Path(encoder_dir), layers, texts or PROBE_TEXTS, say)
    return final


def _convert(encoder_dir: Path, layers: int | None, final: Path, say: ConvertProgress | None) -> None:
    import tempfile
    import time

    ct2()
    from annotator.ml.loading import quiet_transformers
    from annotator.ml.registry import building, check_loadable

    check_loadable(encoder_dir)  # pickles and a folder's own code: refused before the converter reads it
    say = say or _reporter or (lambda _line: None)
    depth = encoder_depth(encoder_dir)
    cut = layers if layers and layers < depth else None
    say(f"engine: converting {encoder_dir.name}{f' (first {cut} of {depth} layers)' if cut else ''} "
        f"to CTranslate2, once …")
    started = time.perf_counter()
    quiet_transformers()
    with tempfile.TemporaryDirectory(prefix="annotator-convert-") as scratch:
        source = _converter_source(encoder_dir, cut, Path(scratch))
        with building(final) as staging:
            converter_class()(str(source)).convert(str(staging), quantization=COMPUTE_TYPE, force=True)
            write_engine_json(staging, {
                "format": "ctranslate2", "compute_type": COMPUTE_TYPE, "layers": cut or depth,
                "encoder": str(encoder_dir.resolve()), "seconds": round(time.perf_counter() - started, 1),
                "checks": {}})


def check_encoder_here(folder: Path, encoder_dir: Path, layers: int | None, texts: Sequence[str],
                       say: ConvertProgress | None = None) -> dict[str, Any]:
    """This CPU's check of a conversion, made once per CPU (:func:`cpu_signature`) and kept in its
    ``engine.json``: each precision's embedding cosine to float32 PyTorch on ``texts``, fastest
    first, until one reaches ``MIN_COSINE``; that one runs here. Where none does, the weights are
    deleted (the record stays, so that the conversion is not made again on this CPU)."""
    import time

    record = read_engine_json(folder) or {}
    signature = cpu_signature()
    checks = record.setdefault("checks", {})
    if signature in checks:
        return checks[signature]
    say = say or _reporter or (lambda _line: None)
    started = time.perf_counter()
    from annotator.ml.loading import load_tokenizer

    tokenizer = load_tokenizer(encoder_dir)
    texts = list(texts)[:ENCODER_CHECK_TEXTS]
    reference = pooled(encoder_runner(encoder_dir, layers, FLOAT32), tokenizer, texts)
    tried: dict[str, Any] = {}
    chosen = None
    for precision in precisions():
        cos = cosines(reference, pooled(Ct2Encoder(folder, precision), tokenizer, texts))
        fidelity = Fidelity(texts=len(texts), cosine_min=float(cos.min()), cosine_mean=float(cos.mean()))
        tried[precision] = fidelity.to_json()
        if fidelity.passed:
            chosen = precision
            break
    check = {"precision": chosen, "tried": tried, "seconds": round(time.perf_counter() - started, 1)}
    checks[signature] = check
    what = Path(encoder_dir).name + (f" (first {layers} layers)" if layers else "")
    failed = {p: t["failures"][0] for p, t in tried.items() if t["failures"]}
    if chosen is None:
        for name in WEIGHTS:
            (folder / name).unlink(missing_ok=True)
        record["rejected"] = f"no precision reached the bar on {signature}; weights deleted"
        say(f"engine: {what} NOT used: no precision keeps its embeddings within the bar "
            f"({'; '.join(f'{p}: {why}' for p, why in failed.items())}); PyTorch runs it")
    else:
        why = " (" + "; ".join(f"{p}: {why}" for p, why in failed.items()) + ")" if failed else ""
        say(f"engine: {what} runs in CTranslate2 {chosen}{why}; on {len(texts)} texts its embeddings' cosine "
            f"to float32 is {tried[chosen]['cosine_min']:.4f} at worst, {tried[chosen]['cosine_mean']:.4f} on average")
    try:
        write_engine_json(folder, record)
    except OSError:
        pass  # a read-only models folder: checked again next time
    return check


@functools.cache
def converter_class() -> Any:
    """CTranslate2's converter as the tool runs it: offline, never unpickling, never running a
    folder's own code. The converter's own loads pass ``trust_remote_code`` only when it is
    true, which leaves transformers free to ask; these pass ``False`` every time."""
    ct2()
    from ctranslate2.converters import TransformersConverter  # imports torch: seconds a process that only runs the engine saves

    from annotator.ml.loading import quiet_transformers

    quiet_transformers()

    class LocalConverter(TransformersConverter):
        def __init__(self, model_name_or_path: str, **kwargs: Any) -> None:
            super().__init__(model_name_or_path, **{**kwargs, "trust_remote_code": False})

        def load_model(self, model_class: Any, name: str, **kwargs: Any) -> Any:
            kwargs.pop("trust_remote_code", None)
            return model_class.from_pretrained(name, local_files_only=True, use_safetensors=True,
                                               trust_remote_code=False, **kwargs)

        def load_tokenizer(self, tokenizer_class: Any, name: str, **kwargs: Any) -> Any:
            kwargs.pop("trust_remote_code", None)
            return tokenizer_class.from_pretrained(name, local_files_only=True, trust_remote_code=False, **kwargs)

    return LocalConverter


def _converter_source(encoder_dir: Path, cut: int | None, scratch: Path) -> Path:
    """A checkpoint folder the converter can read: the encoder cut to ``cut`` layers if asked
    (the converter reads whole checkpoints), and its config completed with what CTranslate2's
    BERT-family loader still asks for (``position_embedding_type``, which transformers 5 dropped)."""
    import os

    from annotator.ml.loading import load_tokenizer

    config = json.loads((encoder_dir / "config.json").read_text(encoding="utf-8"))
    if not cut and "position_embedding_type" in config:
        return encoder_dir
    source = scratch / "source"
    if cut:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(encoder_dir, local_files_only=True, use_safetensors=True,
                                          trust_remote_code=False, num_hidden_layers=cut)
        model.save_pretrained(source, safe_serialization=True)
        load_tokenizer(encoder_dir).save_pretrained(source)
        del model
        config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    else:
        source.mkdir()
        for item in encoder_dir.iterdir():
            if item.name != "config.json":
                os.symlink(item.resolve(), source / item.name)
    config.setdefault("position_embedding_type", "absolute")
    (source / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return source


def pooled(encoder: Any, tokenizer: Any, texts: Sequence[str], prefix: str = "", max_length: int = 128) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``texts`` through an encoder runner."""
    if not len(texts):
        return np.zeros((0, 0), np.float32)
    ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]

    def mean(_i: int, states: np.ndarray) -> np.ndarray:
        v = states.mean(axis=0)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    return np.stack(encode(encoder, ids, mean)).astype(np.float32)


_runners: dict[tuple[str, int | None, str], Any] = {}
_runners_lock = threading.Lock()


def encoder_runner(encoder_dir: Path | str, layers: int | None = None, engine: str | None = None,
                   texts: Sequence[str] = (), say: ConvertProgress | None = None) -> Any:
    """The runner of an encoder (its first ``layers`` layers) under ``engine`` (None: the process
    setting; ``ct2-<precision>``: the engine at that precision, as a version's check chose):
    CTranslate2 at the precision this CPU's check chose (converted and checked now on first
    use, on ``texts``), else PyTorch with a note saying why."""
    setting = engine or engine_setting()
    if setting not in (*ENGINES, FLOAT32) and not (setting.startswith("ct2-") and setting[4:] in PRECISIONS):
        raise AnnotatorError(f"unknown engine {setting!r}; use one of {', '.join(ENGINES)}")
    if setting == "torch":
        from annotator.ml.batching import use_bf16

        if not use_bf16():  # PyTorch without bf16 is the float32 reference: one runner, one set of states
            setting = FLOAT32
    resolved = str(Path(encoder_dir).resolve())
    depth = encoder_depth(encoder_dir)
    layers = layers if layers and layers < depth else None
    key = (resolved, layers, setting)
    with _runners_lock:
        if key in _runners:
            return _runners[key]
    runner = _choose(Path(resolved), layers, setting, texts, say)
    with _runners_lock:
        return _runners.setdefault(key, runner)


def _choose(encoder_dir: Path, layers: int | None, setting: str, texts: Sequence[str],
            say: ConvertProgress | None) -> Any:
    what = encoder_dir.name + (f" (first {layers} layers)" if layers else "")
    if setting in ("torch", FLOAT32):
        return TorchEncoder(encoder_dir, layers, float32=setting == FLOAT32)
    missing = ct2_missing()
    if missing:
        note(f"missing:{missing}", f"engine: PyTorch, because {missing}")
        return _pytorch(encoder_dir, layers)
    try:
        folder = convert_encoder(encoder_dir, layers, texts, say)
    except Exception as exc:  # an architecture the converter does not know, a read-only models/ …
        note(f"convert:{encoder_dir}:{layers}", f"engine: PyTorch for {what}, because its conversion failed: {exc}")
        return _pytorch(encoder_dir, layers)
    check = ((read_engine_json(folder) or {}).get("checks") or {}).get(cpu_signature()) or {}
    if setting.startswith("ct2-"):
        precision = setting[4:]
        if precision in precisions() and (folder / "model.bin").is_file():
            return Ct2Encoder(folder, precision)
        note(f"precision:{folder}:{precision}", f"engine: PyTorch for {what}, because CTranslate2 does not run "
                                                 f"{precision} on this CPU")
        return _pytorch(encoder_dir, layers)
    precision = check.get("precision")
    if not precision:
        failures = "; ".join(f"{p}: {'; '.join(t.get('failures') or [])}" for p, t in (check.get("tried") or {}).items())
        note(f"fidelity:{folder}", f"engine: PyTorch for {what}, because no precision of CTranslate2 keeps its "
                                    f"embeddings faithful enough ({failures})")
        return _pytorch(encoder_dir, layers)
    return Ct2Encoder(folder, precision)


def _pytorch(encoder_dir: Path, layers: int | None) -> "TorchEncoder":
    """PyTorch as the fallback: with bf16 autocast where the CPU has it, else the float32 reference."""
    from annotator.ml.batching import use_bf16

    return TorchEncoder(encoder_dir, layers, float32=not use_bf16())


def runner_name(encoder_dir: Path | str, layers: int | None = None, engine: str | None = None) -> str:
    """``torch``, ``torch-fp32`` or ``ct2-<precision>``: what :func:`encoder_runner` runs for these arguments."""
    return encoder_runner(encoder_dir, layers, engine).name


def forget_runners() -> None:
    """Drop the loaded runners (tests; after models/ changed under the process)."""
    with _runners_lock:
        _runners.clear()

"""The inference engine: transformer encoders (and translation models) in CTranslate2 int8 on
the CPU, PyTorch as the fallback and for training.

Which engine runs is one setting for the process: ``auto`` (the default: CTranslate2 where the
package is installed, the model is converted and its conversion passed the fidelity check;
PyTorch otherwise, with one line saying why), ``ct2`` or ``torch``; ``annotator suggest
--engine`` or ``$ANNOTATOR_ENGINE`` sets it.

A converted model is the engine's own format (``model.bin``, CTranslate2's weights file: no
pickles), made once per model and kept under ``models/engine/<encoder key>/`` for a base encoder
(cut to its first ``layers`` layers where a head reads a middle layer), or inside a version's
folder (``engine/``) for a fine-tuned or translation model. Beside it, ``engine.json`` records
the check made at conversion: the embedding cosine to the float32 PyTorch model on real texts
(min and mean). Where the minimum is under ``MIN_COSINE`` the conversion is not used.

CTranslate2 runs its own kernels (everything but the matrix products) with AVX-512 only on Intel
CPUs; on an AMD CPU with AVX-512 it falls back to AVX2. :func:`ct2` asks for AVX-512 wherever the
CPU has it (``CT2_FORCE_CPU_ISA``, unless the user set it): 1.2-1.3x the encoder's throughput on
these 2-core AMD EPYC sandboxes (``bench/bench_suggest.py``), the same results within the
fidelity checks.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError
from annotator.ml.batching import cpu_flags
from annotator.thresholds import reaches_matrix

ENGINES = ("auto", "ct2", "torch")
# The slogan tagger is fitted (and tuned on dev) on PyTorch's token states and predicts through
# the engine: the fidelity check then measures exactly what the engine changes in its spans.
TRAINING_ENGINE = "torch"
FLOAT32 = "float32"  # PyTorch without bf16 autocast: the reference of the fidelity checks (not a setting)
COMPUTE_TYPE = "int8"
BATCH_SIZE = 8  # texts per engine batch: small batches side by side beat big ones on a CPU (bench_suggest)
ENGINE_FILE = "engine.json"
MIN_COSINE = 0.998  # below this (the worst text's cosine to float32), a conversion is not used
MIN_FRAMES_UNCHANGED = 0.99  # share of a version's frame decisions the engine must leave as they are
MIN_SPANS_UNCHANGED = 0.95  # share of a version's spans the engine must leave as they are

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
    """What a conversion's check measured on real texts."""

    texts: int = 0
    cosine_min: float = 0.0
    cosine_mean: float = 0.0
    frames_unchanged: float | None = None
    spans_unchanged: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def failures(self) -> list[str]:
        why = []
        if self.texts and self.cosine_min < MIN_COSINE:
            why.append(f"embedding cosine to float32 {self.cosine_min:.4f} < {MIN_COSINE}")
        if self.frames_unchanged is not None and self.frames_unchanged < MIN_FRAMES_UNCHANGED:
            why.append(f"{self.frames_unchanged:.1%} of frame decisions unchanged < {MIN_FRAMES_UNCHANGED:.0%}")
        if self.spans_unchanged is not None and self.spans_unchanged < MIN_SPANS_UNCHANGED:
            why.append(f"{self.spans_unchanged:.1%} of spans unchanged < {MIN_SPANS_UNCHANGED:.0%}")
        return why

    @property
    def passed(self) -> bool:
        return not self.failures()

    def to_json(self) -> dict[str, Any]:
        return {"texts": self.texts, "cosine_min": round(self.cosine_min, 6), "cosine_mean": round(self.cosine_mean, 6),
                "frames_unchanged": self.frames_unchanged, "spans_unchanged": self.spans_unchanged,
                "passed": self.passed, "failures": self.failures(), **self.extra}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fidelity":
        known = {"texts", "cosine_min", "cosine_mean", "frames_unchanged", "spans_unchanged"}
        return cls(**{k: data[k] for k in known if k in data},
                   extra={k: v for k, v in data.items() if k not in known | {"passed", "failures"}})


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


def span_agreement(a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> float:
    """The share of spans the two sides hold alike, over all documents: exact-match F1 between
    them (Dice: 2|A∩B| / (|A| + |B|); 1 when neither has any), so that a span one side has and
    the other lacks counts once, whichever side has it."""
    both = total = 0
    for x, y in zip(a, b):
        sx, sy = set(map(tuple, x)), set(map(tuple, y))
        both += len(sx & sy)
        total += len(sx) + len(sy)
    return 2 * both / total if total else 1.0


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
    """An encoder in PyTorch: the fallback, and the float32 reference of the fidelity check."""

    name = "torch"
    parallel = 1  # PyTorch spreads one batch over every core itself

    def __init__(self, encoder_dir: Path | str, layers: int | None = None, float32: bool = False) -> None:
        from transformers import AutoModel

        from annotator.ml.loading import load_model

        kwargs = {"num_hidden_layers": layers} if layers else {}
        self.model = load_model(encoder_dir, AutoModel, **kwargs)
        self.float32 = float32
        self.name = "torch-fp32" if float32 else "torch"

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
    """An encoder converted to CTranslate2 int8."""

    name = f"ct2-{COMPUTE_TYPE}"

    def __init__(self, folder: Path) -> None:
        ctranslate2 = ct2()
        self.folder = folder
        # one replica per core, each batch on one core, batches side by side (``parallel``): on
        # 2 cores 1.3-1.4x the throughput of one batch at a time over both cores
        self.parallel = threads()
        self.batch_size = BATCH_SIZE
        self.encoder = ctranslate2.Encoder(str(folder), device="cpu", compute_type=COMPUTE_TYPE,
                                           inter_threads=self.parallel, intra_threads=1)
        _give_torch_its_threads()

    def forward(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        output = self.encoder.forward_batch([list(row) for row in ids])
        return np.asarray(output.last_hidden_state, dtype=np.float32)


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


def convert_encoder(encoder_dir: Path | str, layers: int | None = None, texts: Sequence[str] = (),
                    say: ConvertProgress | None = None, root: Path | None = None) -> Path:
    """Convert an encoder (its first ``layers`` layers) to CTranslate2 int8 once, and check it on
    ``texts`` (or the probe sentences): the mean-pooled embedding's cosine to float32 PyTorch.
    Returns the converted folder (``engine.json`` says whether it passed)."""
    final = converted_dir(encoder_dir, layers, root)
    if (final / ENGINE_FILE).is_file():
        return final
    import tempfile
    import time

    ct2()
    from annotator.ml.loading import quiet_transformers
    from annotator.ml.registry import building, check_loadable

    check_loadable(Path(encoder_dir))  # pickles and a folder's own code: refused before the converter reads it

    say = say or _reporter or (lambda _line: None)
    depth = encoder_depth(encoder_dir)
    cut = layers if layers and layers < depth else None
    say(f"engine: converting {Path(encoder_dir).name}{f' (first {cut} of {depth} layers)' if cut else ''} "
        f"to CTranslate2 {COMPUTE_TYPE}, once …")
    started = time.perf_counter()
    quiet_transformers()
    with tempfile.TemporaryDirectory(prefix="annotator-convert-") as scratch:
        source = _converter_source(Path(encoder_dir), cut, Path(scratch))
        with building(final) as staging:
            converter_class()(str(source)).convert(str(staging), quantization=COMPUTE_TYPE, force=True)
            fidelity = check_encoder(encoder_dir, cut, Ct2Encoder(staging), texts or PROBE_TEXTS)
            write_engine_json(staging, {
                "format": "ctranslate2", "compute_type": COMPUTE_TYPE, "layers": cut or depth,
                "cpu_isa": choose_cpu_isa() or "ctranslate2's choice",
                "encoder": str(Path(encoder_dir).resolve()), "seconds": round(time.perf_counter() - started, 1),
                "fidelity": fidelity.to_json()})
    if cut:  # a cut encoder feeds a head: the head's own decisions are checked (gate_version)
        verdict = "each model that reads it checks its own decisions"
    else:
        verdict = "passed" if fidelity.passed else "NOT used: " + "; ".join(fidelity.failures())
    say(f"engine: converted in {time.perf_counter() - started:.0f} s; on {fidelity.texts} texts the embedding "
        f"cosine to float32 is {fidelity.cosine_min:.4f} at worst, {fidelity.cosine_mean:.4f} on average ({verdict})")
    return final


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


def pooled(encoder: Any, tokenizer: Any, texts: Sequence[str], prefix: str = "", max_length: int = 128,
           batch_size: int = 16) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``texts`` through an encoder runner."""
    from annotator.ml.batching import map_batched

    def run(batch: list[str]) -> list[np.ndarray]:
        ids = tokenizer([prefix + t for t in batch], truncation=True, max_length=max_length)["input_ids"]
        hidden = encoder.forward(ids)
        out = []
        for r, row in enumerate(ids):
            v = hidden[r, :len(row)].mean(axis=0)
            out.append(v / max(float(np.linalg.norm(v)), 1e-12))
        return out

    if not len(texts):
        return np.zeros((0, 0), np.float32)
    return np.stack(map_batched(list(texts), getattr(encoder, "batch_size", batch_size), run,
                                workers=getattr(encoder, "parallel", 1))).astype(np.float32)


def check_encoder(encoder_dir: Path | str, layers: int | None, converted: Any, texts: Sequence[str]) -> Fidelity:
    """The cosine of the converted encoder's embeddings to float32 PyTorch's on ``texts``."""
    from annotator.ml.loading import load_tokenizer

    tokenizer = load_tokenizer(encoder_dir)
    texts = list(texts)[:256]
    reference = pooled(TorchEncoder(encoder_dir, layers, float32=True), tokenizer, texts)
    ours = pooled(converted, tokenizer, texts)
    cos = cosines(reference, ours)
    return Fidelity(texts=len(texts), cosine_min=float(cos.min()), cosine_mean=float(cos.mean()))


_runners: dict[tuple[str, int | None, str], Any] = {}
_runners_lock = threading.Lock()


def encoder_runner(encoder_dir: Path | str, layers: int | None = None, engine: str | None = None,
                   texts: Sequence[str] = (), say: ConvertProgress | None = None) -> Any:
    """The runner of an encoder (its first ``layers`` layers) under ``engine`` (None: the process
    setting): CTranslate2 where it can and its conversion passed the check (converted now on
    first use, checked on ``texts``), else PyTorch with a note saying why."""
    setting = engine or engine_setting()
    if setting not in (*ENGINES, FLOAT32):
        raise AnnotatorError(f"unknown engine {setting!r}; use one of {', '.join(ENGINES)}")
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
        return TorchEncoder(encoder_dir, layers)
    try:
        folder = convert_encoder(encoder_dir, layers, texts, say)
    except Exception as exc:  # an architecture the converter does not know, a read-only models/ …
        note(f"convert:{encoder_dir}:{layers}", f"engine: PyTorch for {what}, because its conversion failed: {exc}")
        return TorchEncoder(encoder_dir, layers)
    info = read_engine_json(folder) or {}
    fidelity = Fidelity.from_json(info.get("fidelity") or {})
    if not fidelity.passed and not layers:  # a cut encoder's users check their own decisions
        note(f"fidelity:{folder}", f"engine: PyTorch for {what}, because its int8 conversion is not faithful "
                                    f"enough ({'; '.join(fidelity.failures())})")
        return TorchEncoder(encoder_dir, layers)
    return Ct2Encoder(folder)


def runner_name(encoder_dir: Path | str, layers: int | None = None, engine: str | None = None) -> str:
    """``torch``, ``torch-fp32`` or ``ct2-int8``: what :func:`encoder_runner` runs for these arguments."""
    return encoder_runner(encoder_dir, layers, engine).name


def forget_runners() -> None:
    """Drop the loaded runners (tests; after models/ changed under the process)."""
    with _runners_lock:
        _runners.clear()


# ---------------------------------------------------------------------- model versions
def check_version(model: Any, kind: str, texts: Sequence[str], contexts: Sequence[Any] | None = None) -> Fidelity | None:
    """How far the engine moves a quick model's decisions on ``texts`` (a version's dev texts):
    its predictions with the encoder in the engine against float32 PyTorch. ``kind`` is
    ``frames`` (the share of text x label decisions unchanged) or ``spans`` (the share of spans
    unchanged). None where the process runs PyTorch anyway (nothing to check)."""
    encoder_dir = getattr(model, "encoder_dir", None)
    if encoder_dir is None or not texts:
        return None
    layers = getattr(model, "layers", None) if kind == "spans" else None
    runner = encoder_runner(encoder_dir, layers, model.engine)
    if runner.name.startswith("torch"):
        return None
    texts = list(texts)[:256]
    saved = model.engine
    try:  # (a project's store keeps each engine's vectors apart: both sides may read it)
        model.engine = FLOAT32
        reference = _decisions(model, kind, texts, contexts)
        model.engine = saved
        ours = _decisions(model, kind, texts, contexts)
    finally:
        model.engine = saved
    info = read_engine_json(converted_dir(encoder_dir, layers)) or {}
    encoder = Fidelity.from_json(info.get("fidelity") or {})
    extra = {"engine": runner.name, "checked_on": len(texts)}
    if kind == "frames":  # over sentence embeddings: their cosine is a bar too
        fidelity = Fidelity(texts=encoder.texts, cosine_min=encoder.cosine_min, cosine_mean=encoder.cosine_mean,
                            extra=extra)
    else:  # over token states of a cut encoder: the spans themselves are the bar
        fidelity = Fidelity(extra={**extra, "encoder_cosine_min": encoder.cosine_min,
                                   "encoder_cosine_mean": encoder.cosine_mean})
    if kind == "frames":
        fidelity.frames_unchanged = float((reference == ours).mean()) if reference.size else 1.0
    else:
        fidelity.spans_unchanged = span_agreement(reference, ours)
    return fidelity


def _decisions(model: Any, kind: str, texts: list[str], contexts: Sequence[Any] | None) -> Any:
    if kind == "spans":
        return model.predict_tuples(texts)
    from annotator.ml.context import predict_scores

    scores = predict_scores(model, texts, contexts)
    return reaches_matrix(scores, [model.thresholds.get(label, 0.5) for label in model.labels])


def gate_version(model: Any, kind: str, folder: Path, texts: Sequence[str] = PROBE_TEXTS) -> None:
    """Let a loaded quick version use the engine only if its check passed: the check made at
    training (``meta.json``'s ``engine``), or made now on ``texts`` for a version trained
    before the engine and recorded there. A version that fails is pinned to PyTorch, with a
    note saying why."""
    from annotator.ml.registry import add_meta_extra, read_meta

    if engine_setting() == "torch" or getattr(model, "encoder_dir", None) is None:
        return
    recorded = (read_meta(folder).extra or {}).get("engine")
    if recorded is None:
        fidelity = check_version(model, kind, texts)
        if fidelity is None:
            return
        recorded = fidelity.to_json()
        try:
            add_meta_extra(folder, engine=recorded)
        except OSError:
            pass  # a read-only models folder: checked again next time
    if not recorded.get("passed", True):
        model.engine = "torch"
        note(f"version:{folder}", f"engine: PyTorch for {folder.name}, because the int8 engine changes its "
                                  f"suggestions too much ({'; '.join(recorded.get('failures') or [])})")

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
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import AnnotatorError

ENGINES = ("auto", "ct2", "torch")
COMPUTE_TYPE = "int8"
ENGINE_FILE = "engine.json"
MIN_COSINE = 0.998  # below this (the worst text's cosine to float32), a conversion is not used
MIN_FRAMES_UNCHANGED = 0.99  # share of a version's frame decisions the engine must leave as they are
MIN_SPANS_UNCHANGED = 0.95  # share of a version's spans the engine must leave as they are

_setting: str | None = None
_notes: dict[str, str] = {}
_notes_lock = threading.Lock()


def set_engine(name: str) -> None:
    """Choose the engine for this process (``auto``, ``ct2`` or ``torch``)."""
    if name not in ENGINES:
        raise AnnotatorError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    global _setting
    _setting = name


def engine_setting() -> str:
    """The process's engine: ``set_engine``, else ``$ANNOTATOR_ENGINE``, else ``auto``."""
    if _setting is not None:
        return _setting
    value = os.environ.get("ANNOTATOR_ENGINE", "auto").strip().lower() or "auto"
    if value not in ENGINES:
        raise AnnotatorError(f"ANNOTATOR_ENGINE={value!r} is not an engine; use one of {', '.join(ENGINES)}")
    return value


def ct2_missing() -> str:
    """Why CTranslate2 cannot run here ('' if it can)."""
    try:
        import ctranslate2  # noqa: F401
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


def threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


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
    """The share of spans both lists of documents hold (|A∩B| / |A∪B| over all documents; 1 when
    neither has any)."""
    both = union = 0
    for x, y in zip(a, b):
        sx, sy = set(map(tuple, x)), set(map(tuple, y))
        both += len(sx & sy)
        union += len(sx | sy)
    return both / union if union else 1.0


ConvertProgress = Callable[[str], None]

"""Per-token hidden states of the base encoder, for heads that sit on a frozen encoder.

The encoder is cut to its first ``layers`` layers (a middle layer describes a token in its
phrase better than the last one, which e5 trained for whole-sentence similarity; and the layers
above are never computed), and runs in the inference engine (``ml.engine``: CTranslate2 int8
where it can, PyTorch otherwise). Texts go through in the runner's batches (``ml.engine.encode``); each text's
states are kept in memory for the process, so
that retraining on the same labels in the UI costs no encoder time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MEMORY_TEXTS = 20_000  # texts whose states stay in memory (about 2 MB per 100 texts at 384 wide)


@dataclass(frozen=True)
class TokenStates:
    """One text's tokens: ``states`` (tokens x hidden, float32) and their character ``offsets``;
    special tokens are left out."""

    states: np.ndarray
    offsets: list[tuple[int, int]]


_memory: "OrderedDict[tuple[str, int, int, str], TokenStates]" = OrderedDict()
_memory_lock = threading.Lock()


def default_layer(encoder_dir: Path | str) -> int:
    """Two thirds of the way up (layer 8 of 12): on the demo's slogans it scored as well as the
    last layer on dev and better on test, at two thirds of the cost."""
    from annotator.ml.engine import encoder_depth

    return max(1, round(encoder_depth(encoder_dir) * 2 / 3))


def token_states(encoder_dir: Path | str, texts: Sequence[str], layers: int, max_length: int = 512,
                 engine: str | None = None) -> list[TokenStates]:
    """The hidden states after ``layers`` layers for every token of every text, in input order,
    through the inference engine (``engine``, or the process's)."""
    from annotator.ml.embeddings import encoder_key
    from annotator.ml.engine import encoder_runner

    runner = encoder_runner(encoder_dir, layers, engine, texts=texts)
    key = f"{encoder_key(encoder_dir)}:{runner.name}"
    out: list[TokenStates | None] = [None] * len(texts)
    todo: dict[str, list[int]] = {}
    with _memory_lock:
        for i, text in enumerate(texts):
            found = _memory.get((key, layers, max_length, text))
            if found is not None:
                _memory.move_to_end((key, layers, max_length, text))
                out[i] = found
            else:
                todo.setdefault(text, []).append(i)
    if todo:
        fresh = _run(encoder_dir, runner, list(todo), max_length)
        with _memory_lock:
            for text, states in zip(todo, fresh):
                for i in todo[text]:
                    out[i] = states
                _memory[(key, layers, max_length, text)] = states
            while len(_memory) > MEMORY_TEXTS:
                _memory.popitem(last=False)
    return out  # type: ignore[return-value]


def _run(encoder_dir: Path | str, runner: Any, texts: list[str], max_length: int) -> list[TokenStates]:
    from annotator.ml.engine import encode
    from annotator.ml.loading import load_tokenizer

    tokenizer = load_tokenizer(encoder_dir)
    special = set(tokenizer.all_special_ids)
    enc = tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)

    def keep(i: int, hidden: np.ndarray) -> TokenStates:
        ids, offsets = enc["input_ids"][i], enc["offset_mapping"][i]
        kept = [t for t, (tok, (a, b)) in enumerate(zip(ids, offsets)) if tok not in special and b > a]
        return TokenStates(hidden[kept].astype(np.float16).astype(np.float32), [tuple(offsets[t]) for t in kept])

    return encode(runner, enc["input_ids"], keep)


def clear_memory() -> None:
    with _memory_lock:
        _memory.clear()

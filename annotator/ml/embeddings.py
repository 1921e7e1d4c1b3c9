"""Sentence embeddings from the base encoder, computed once per text and encoder.

Mean pooling over tokens, L2-normalised, texts prefixed with ``"query: "`` (the e5 family was
trained with that prefix for symmetric tasks; other encoders ignore it harmlessly). The
nearest-neighbour and linear frames models read them; with a cache (the project keeps one,
``Store.embedding_cache``), each text is embedded once per encoder, so retraining the quick
models and suggesting again cost no encoder time for texts seen before.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

E5_QUERY_PREFIX = "query: "


class EmbeddingCache(Protocol):
    """Vectors by key (see :func:`text_key`), for one encoder."""

    def get(self, keys: Sequence[str]) -> Mapping[str, np.ndarray]: ...

    def put(self, vectors: Mapping[str, np.ndarray]) -> None: ...


def encoder_key(encoder_dir: Path | str) -> str:
    """A short id of an encoder's weights (folder name, config and weight file size), so that
    vectors of another encoder, or of retrained weights, are never mixed in."""
    return _encoder_key(str(Path(encoder_dir).resolve()))


@functools.lru_cache(maxsize=16)
def _encoder_key(resolved: str) -> str:  # asked on every suggestion chunk: read the folder once
    folder = Path(resolved)
    digest = hashlib.sha256(folder.resolve().name.encode())
    for name in ("config.json",):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    weights = folder / "model.safetensors"
    if weights.is_file():
        digest.update(str(weights.stat().st_size).encode())
    return f"{folder.resolve().name}:{digest.hexdigest()[:12]}"


def text_key(text: str, prefix: str, max_length: int) -> str:
    return hashlib.sha1(f"{max_length}\x00{prefix}{text}".encode("utf-8")).hexdigest()


def embed_texts(encoder_dir: Path | str, texts: Sequence[str], prefix: str = E5_QUERY_PREFIX,
                max_length: int = 128, batch_size: int = 16, cache: EmbeddingCache | None = None) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings (texts x hidden) from an encoder folder; texts the
    cache holds are not run through the encoder again, and the new ones are added to it.

    Texts go through in length-sorted batches (little padding) under ``inference_context``.
    """
    keys = [text_key(t, prefix, max_length) for t in texts]
    known: dict[str, np.ndarray] = dict(cache.get(sorted(set(keys)))) if cache is not None and texts else {}
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
    if todo:
        vectors = _run_encoder(encoder_dir, [t for _, t in todo], prefix, max_length, batch_size)
        # at the store's precision (float16): a text gives the same vector fresh or from the
        # store, so a version scores the same when trained and when evaluated again later
        vectors = vectors.astype(np.float16).astype(np.float32)
        fresh = {k: v for (k, _), v in zip(todo, vectors)}
        known.update(fresh)
        if cache is not None:
            cache.put(fresh)
    if not texts:
        return _run_encoder(encoder_dir, [], prefix, max_length, batch_size)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def _run_encoder(encoder_dir: Path | str, texts: Sequence[str], prefix: str, max_length: int,
                 batch_size: int) -> np.ndarray:
    import torch
    from transformers import AutoModel

    from annotator.ml.batching import inference_context, map_batched
    from annotator.ml.loading import load_model, load_tokenizer

    model = load_model(encoder_dir, AutoModel)
    tokenizer = load_tokenizer(encoder_dir)
    device = next(model.parameters()).device
    hidden_size = int(model.config.hidden_size)
    if not len(texts):
        return np.zeros((0, hidden_size), np.float32)

    def run(batch: list[str]) -> list[np.ndarray]:
        enc = tokenizer([prefix + t for t in batch], padding=True, truncation=True, max_length=max_length,
                        return_tensors="pt").to(device)
        with inference_context(device.type):
            hidden = model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return list(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())

    return np.stack(map_batched(list(texts), batch_size, run)).astype(np.float32)

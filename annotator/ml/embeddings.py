"""Sentence embeddings from the base encoder, computed once per text and encoder.

Mean pooling over tokens, L2-normalised, texts prefixed with ``"query: "`` (the e5 family was
trained with that prefix for symmetric tasks; other encoders ignore it harmlessly). The
nearest-neighbour and linear frames models read them; with a cache (the project keeps one,
``Store.embedding_cache``), each text is embedded once per encoder, so retraining the quick
models and suggesting again cost no encoder time for texts seen before.
"""

from __future__ import annotations

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
    """A short id of an encoder's weights, so that vectors of another encoder, or of retrained
    weights, are never mixed in (``ml.loading.weights_key``)."""
    from annotator.ml.loading import weights_key

    return weights_key(encoder_dir)


def text_key(text: str, prefix: str, max_length: int, engine: str = "torch") -> str:
    """A text's key in the store, for one way of embedding it: vectors from PyTorch and from
    the int8 engine (``ml.engine``) are kept apart (PyTorch's keep the key they always had)."""
    tail = "" if engine == "torch" else f"\x00{engine}"
    return hashlib.sha1(f"{max_length}\x00{prefix}{text}{tail}".encode("utf-8")).hexdigest()


def embedding_keys(encoder_dir: Path | str, texts: Sequence[str], prefix: str = E5_QUERY_PREFIX,
                   max_length: int = 128, engine: str | None = None) -> list[str]:
    """The keys of ``texts``' vectors as :func:`embed_texts` computes them with these arguments
    (under the engine that runs the encoder), so that a caller can ask the store which it lacks."""
    from annotator.ml.engine import encoder_runner

    name = encoder_runner(encoder_dir, None, engine, texts=texts).name
    return [text_key(t, prefix, max_length, name) for t in texts]


def embed_texts(encoder_dir: Path | str, texts: Sequence[str], prefix: str = E5_QUERY_PREFIX,
                max_length: int = 128, cache: EmbeddingCache | None = None,
                engine: str | None = None) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings (texts x hidden) from an encoder folder, through the
    inference engine (``ml.engine``: ``engine``, or the process's); texts the cache holds are not
    run through the encoder again, and the new ones are added to it (under keys of the engine
    that computed them, so that the engines' vectors are never mixed).

    Texts go through in the runner's batches (:func:`annotator.ml.engine.encode`): in the engine,
    texts of one token length each, so that a text's vector does not depend on the texts beside it.
    """
    from annotator.ml.engine import encoder_runner

    runner = encoder_runner(encoder_dir, None, engine, texts=texts)
    keys = embedding_keys(encoder_dir, texts, prefix, max_length, engine)
    known: dict[str, np.ndarray] = dict(cache.get(sorted(set(keys)))) if cache is not None and texts else {}
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
    if todo:
        vectors = _run_encoder(encoder_dir, [t for _, t in todo], prefix, max_length, runner)
        # at the store's precision (float16): a text gives the same vector fresh or from the
        # store, so a version scores the same when trained and when evaluated again later
        vectors = vectors.astype(np.float16).astype(np.float32)
        fresh = {k: v for (k, _), v in zip(todo, vectors)}
        known.update(fresh)
        if cache is not None:
            cache.put(fresh)
    if not texts:
        return np.zeros((0, _hidden_size(encoder_dir)), np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)


def _hidden_size(encoder_dir: Path | str) -> int:
    import json

    config = json.loads((Path(encoder_dir) / "config.json").read_text(encoding="utf-8"))
    return int(config.get("hidden_size") or config.get("d_model") or 0)


def _run_encoder(encoder_dir: Path | str, texts: Sequence[str], prefix: str, max_length: int,
                 runner: object | None = None) -> np.ndarray:
    from annotator.ml.engine import encoder_runner, pooled
    from annotator.ml.loading import load_tokenizer

    runner = runner or encoder_runner(encoder_dir, texts=texts)
    return pooled(runner, load_tokenizer(encoder_dir), texts, prefix, max_length)

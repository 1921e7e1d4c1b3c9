"""The project's cache of sentence embeddings (``annotator.ml.embeddings``): one float16 vector
per text and encoder, so an encoder runs once over a text, whatever retrains or suggests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from annotator.store.base import StorePart

_CHUNK = 500  # keys per query (SQLite's limit on bound variables is higher; this keeps it cheap)


class EmbeddingCache:
    """The ``EmbeddingCache`` of one encoder over one store connection."""

    def __init__(self, store: "Embeddings", encoder: str) -> None:
        self.store, self.encoder = store, encoder

    def get(self, keys: Sequence[str]) -> Mapping[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = list(keys[i:i + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for key, blob in self.store.db.execute(
                    f"SELECT text_key, vector FROM text_embeddings WHERE encoder = ? AND text_key IN ({marks})",
                    [self.encoder, *chunk]):
                out[key] = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
        return out

    def known(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` whose vectors the store holds (without reading the vectors)."""
        out: set[str] = set()
        for i in range(0, len(keys), _CHUNK):
            chunk = list(keys[i:i + _CHUNK])
            out.update(key for (key,) in self.store.db.execute(
                f"SELECT text_key FROM text_embeddings WHERE encoder = ? AND text_key IN ({','.join('?' * len(chunk))})",
                [self.encoder, *chunk]))
        return out

    def all(self) -> tuple[list[str], np.ndarray]:
        """Every vector of this encoder: the keys, and a (keys x dim) float16 matrix in their order
        (one scan, kept at the store's precision: 100k vectors of 768 are 150 MB, not 300)."""
        keys: list[str] = []
        rows: list[np.ndarray] = []
        for key, blob in self.store.db.execute(
                "SELECT text_key, vector FROM text_embeddings WHERE encoder = ?", [self.encoder]):
            keys.append(key)
            rows.append(np.frombuffer(blob, dtype=np.float16))
        dim = rows[0].shape[0] if rows else 0
        return keys, (np.stack(rows) if rows else np.zeros((0, dim), np.float16))

    def blobs(self, keys: Sequence[str]) -> dict[str, bytes]:
        """Those of ``keys`` the store holds, as stored (float16 bytes: what :meth:`put_blobs` takes)."""
        out: dict[str, bytes] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = list(keys[i:i + _CHUNK])
            marks = ",".join("?" * len(chunk))
            out.update(self.store.db.execute(
                f"SELECT text_key, vector FROM text_embeddings WHERE encoder = ? AND text_key IN ({marks})",
                [self.encoder, *chunk]).fetchall())
        return out

    def put(self, vectors: Mapping[str, np.ndarray]) -> None:
        self.put_blobs([(k, np.asarray(v, dtype=np.float16).tobytes()) for k, v in vectors.items()])

    def put_blobs(self, rows: Sequence[tuple[str, bytes]]) -> None:
        """Vectors as (key, float16 bytes), as a Ray worker sends them back: one statement, in
        key order (the index of keys then changes each of its pages once, left to right)."""
        with self.store.write():
            self.store.db.conn.executemany(
                "INSERT OR REPLACE INTO text_embeddings (encoder, text_key, vector) VALUES (?, ?, ?)",
                [(self.encoder, key, blob) for key, blob in sorted(rows)])


class Embeddings(StorePart):
    def embedding_cache(self, encoder: str) -> EmbeddingCache:
        """The cache of ``encoder``'s vectors (``annotator.ml.embeddings.encoder_key``)."""
        return EmbeddingCache(self, encoder)

    def embedding_counts(self) -> dict[str, int]:
        return {r["encoder"]: r["n"] for r in self.db.query(
            "SELECT encoder, COUNT(*) AS n FROM text_embeddings GROUP BY encoder")}

"""More segments like this one: the project's segments nearest to one segment in meaning.

Cosine similarity over the sentence embeddings of the active frames version's encoder (a
multilingual one: a Chinese segment finds its English paraphrases too). The vectors are the
ones the project keeps (``text_embeddings``, one per text and encoder, which training and
suggestion fill); the texts without one are embedded first, in batches, and kept, so a second
look costs one scan of the store and one matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.errors import InputError, ModelNotFoundError
from annotator.ml.embeddings import E5_QUERY_PREFIX, embed_texts, encoder_key, text_key
from annotator.ml.registry import find_encoder, read_meta
from annotator.model_kinds import FRAMES
from annotator.progress import Progress
from annotator.services.suggest import ActiveModels
from annotator.store import Store

EMBED_BATCH = 64  # texts embedded between two progress reports
SCORE_ROWS = 8192  # segments scored per matrix product (float32 for these rows only)


@dataclass(frozen=True)
class SentenceEncoder:
    """The encoder a frames version embeds with, and how it was called."""

    folder: Path
    prefix: str = E5_QUERY_PREFIX
    max_length: int = 128

    @property
    def key(self) -> str:
        return encoder_key(self.folder)


def active_encoder(store: Store) -> SentenceEncoder:
    """The sentence encoder of the project's active frames version (its base encoder, with the
    prefix and token length it was trained with)."""
    folder = ActiveModels(store).folder(FRAMES)
    if folder is None:
        raise ModelNotFoundError("no active frames version to embed with: train one first "
                                 "(ctrl+t, or `annotator train frames`)")
    meta = read_meta(folder)
    return SentenceEncoder(find_encoder(meta, folder, None), str(meta.extra.get("prefix", E5_QUERY_PREFIX)),
                           int(meta.extra.get("max_length", 128)))


def similar_segments(store: Store, segment_id: int, k: int = 50, progress: Progress | None = None,
                     encoder: SentenceEncoder | None = None) -> list[tuple[int, float]]:
    """The ``k`` segments most similar to ``segment_id`` (itself left out), nearest first, as
    ``(segment id, cosine similarity)``; ties in id (import) order. Segments whose text has no
    vector yet for the encoder are embedded first (``progress("embedding", done, total)``)."""
    if not store.segments([segment_id]):
        raise InputError(f"no segment with id {segment_id}")
    encoder = encoder or active_encoder(store)
    segments = list(store.iter_segments())
    from annotator.ml.engine import runner_name

    engine = runner_name(encoder.folder)
    keys = [text_key(s.text, encoder.prefix, encoder.max_length, engine) for s in segments]
    cache = store.embedding_cache(encoder.key)
    known_keys, matrix = cache.all()
    row_of = {key: i for i, key in enumerate(known_keys)}
    missing = list({key: seg.text for key, seg in zip(keys, segments) if key not in row_of}.items())
    if missing:
        fresh: list[np.ndarray] = []
        for start in range(0, len(missing), EMBED_BATCH):
            if progress:
                progress("embedding", start, len(missing))
            batch = missing[start:start + EMBED_BATCH]
            fresh.append(embed_texts(encoder.folder, [t for _, t in batch], encoder.prefix,
                                     encoder.max_length, cache=cache))
        if progress:
            progress("embedding", len(missing), len(missing))
        for offset, (key, _) in enumerate(missing):
            row_of[key] = len(known_keys) + offset
        matrix = np.concatenate([matrix.reshape(len(known_keys), -1) if len(known_keys) else
                                 np.zeros((0, fresh[0].shape[1]), np.float16),
                                 np.concatenate(fresh).astype(np.float16)])
    rows = np.fromiter((row_of[key] for key in keys), dtype=np.int64, count=len(keys))
    ids = np.fromiter((s.id for s in segments), dtype=np.int64, count=len(segments))
    query = _unit(matrix[rows[int(np.flatnonzero(ids == segment_id)[0])]].astype(np.float32)[None, :])[0]
    scores = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), SCORE_ROWS):
        scores[start:start + SCORE_ROWS] = _unit(matrix[rows[start:start + SCORE_ROWS]].astype(np.float32)) @ query
    scores[ids == segment_id] = -np.inf
    order = np.argsort(-scores, kind="stable")[:max(k, 0)]
    return [(int(ids[i]), float(scores[i])) for i in order if np.isfinite(scores[i])]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)

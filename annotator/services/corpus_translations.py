"""Corpus translations (ParlaMint ``-en`` files) aligned to the segments sentence by sentence.

A corpus translates whole utterances; its sentences rarely match our segments one to one. On
import, before any encoder exists, they are aligned by relative position
(``corpora.importer.align_by_length``). Once the default multilingual encoder is on disk
(``annotator models setup``), each utterance's sentences are aligned to its segments by meaning
(``ml.align``: sentence embeddings, monotone, 1-1, 1-2, 2-1 and skips), and every segment's corpus
translation is stored with its alignment and score. ``annotator import`` does it at once when the
encoder is there; otherwise ``annotator suggest`` does it, once per speech and encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.corpora.segment import segment_text
from annotator.progress import Progress
from annotator.store import Segment, SpeechTranslation, Store
from annotator.store.translations import ALIGNED_BY_POSITION

CHUNK = 200  # speeches embedded and aligned at a time
BACKGROUND = 256  # unrelated sentences per side that the alignment's costs are measured against
RNG_SEED = 14


@dataclass
class AlignmentReport:
    speeches: int = 0
    segments_before: int = 0  # segments of those speeches with a corpus translation, before
    segments_after: int = 0
    waiting: int = 0  # speeches still aligned by position, for want of the encoder

    def line(self) -> str:
        if self.waiting:
            return (f"corpus translations of {self.waiting} speech(es) are aligned by position: "
                    "`annotator models setup` gets the encoder that aligns them sentence by sentence")
        if not self.speeches:
            return ""
        return (f"corpus translations aligned sentence by sentence by the encoder: {self.speeches} speech(es), "
                f"{self.segments_after} segments translated (by position: {self.segments_before})")


def alignment_encoder() -> Path | None:
    """The multilingual encoder that aligns translations: the default one, if it is on disk (a
    fallback encoder trained on one corpus knows no other language, so it does not count)."""
    from annotator.ml.encoder_setup import existing_default_encoder

    return existing_default_encoder()


def aligned_by(encoder: Path) -> str:
    from annotator.ml.embeddings import encoder_key

    return f"encoder:{encoder_key(encoder)}"


def align_corpus_translations(store: Store, encoder: Path | None = None,
                              progress: Progress | None = None) -> AlignmentReport:
    """Align every corpus translation not yet aligned by ``encoder`` (default: the default
    encoder; where there is none, nothing changes and the report says how many wait for it)."""
    report = AlignmentReport()
    encoder = encoder or alignment_encoder()
    if encoder is None:
        report.waiting = len(store.speech_translations(aligned_by=ALIGNED_BY_POSITION))
        return report
    method = aligned_by(encoder)
    todo = store.speech_translations(not_aligned_by=method)
    background: tuple[np.ndarray, np.ndarray] | None = None
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        background = _align_chunk(store, encoder, method, chunk, report, background)
        if progress:
            progress("align", start + len(chunk), len(todo))
    return report


def _align_chunk(store: Store, encoder: Path, method: str, chunk: list[SpeechTranslation],
                 report: AlignmentReport, background: tuple[np.ndarray, np.ndarray] | None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    from annotator.ml.align import align_sentences
    from annotator.ml.embeddings import embed_texts, encoder_key

    sides: list[tuple[list[Segment], list[str]]] = []
    for speech in chunk:
        segments = store.segments_of_speech(speech.speech_id)
        sentences = [p.text for p in segment_text(speech.text, speech.target_lang)]
        sides.append((segments, sentences))
    source_texts = [s.text for segments, _ in sides for s in segments]
    target_texts = [t for _, sentences in sides for t in sentences]
    cache = store.embedding_cache(encoder_key(encoder))
    vectors = embed_texts(encoder, source_texts + target_texts, cache=cache)
    source_vectors, target_vectors = vectors[:len(source_texts)], vectors[len(source_texts):]
    if background is None:
        background = (_sample(source_vectors, store, encoder), _sample(target_vectors, store, encoder))
    si = ti = 0
    for speech, (segments, sentences) in zip(chunk, sides):
        src = source_vectors[si:si + len(segments)]
        tgt = target_vectors[ti:ti + len(sentences)]
        si, ti = si + len(segments), ti + len(sentences)
        groups = align_sentences(src, tgt, [len(s.text) for s in segments], [len(t) for t in sentences],
                                 source_background=background[0], target_background=background[1])
        items = []
        for group in groups:
            english = " ".join(sentences[j] for j in group.target)
            items += [(segments[i].id, english, group.kind, group.score) for i in group.source]
        report.segments_before += store.corpus_translated_count(speech.speech_id, speech.target_lang)
        store.replace_corpus_translations(speech, method, items)
        report.speeches += 1
        report.segments_after += len(items)
    return background


def _sample(vectors: np.ndarray, store: Store, encoder: Path) -> np.ndarray:
    """Up to ``BACKGROUND`` of these sentences' vectors; topped up with other segments of the
    project when there are few (one short utterance is not a background)."""
    rng = np.random.default_rng(RNG_SEED)
    if len(vectors) >= BACKGROUND // 4:
        return vectors[rng.choice(len(vectors), min(BACKGROUND, len(vectors)), replace=False)]
    from annotator.ml.embeddings import embed_texts, encoder_key

    others = store.sample_segment_texts(BACKGROUND // 4)
    extra = embed_texts(encoder, others, cache=store.embedding_cache(encoder_key(encoder))) if others else vectors[:0]
    return np.concatenate([vectors, extra]) if len(extra) else vectors

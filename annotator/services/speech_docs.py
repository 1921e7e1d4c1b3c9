"""Speeches as the speech-level frames models read them (``ml.speech_frames.SpeechDoc``), from
the store: their segments' texts and their gold frames (their side of the project's one
train/dev/test split: ``services.evaluation.sides``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from annotator.ml.speech_frames import SpeechDoc
from annotator.schemes import Scheme
from annotator.store import Store
from annotator.store.speeches import speech_key


def speech_docs(store: Store, speech_ids: Iterable[int]) -> list[SpeechDoc]:
    """The speeches, each with its segments' texts in order (no gold)."""
    out = []
    for speech_id in speech_ids:
        speech = store.speech(speech_id)
        out.append(SpeechDoc(speech_key(speech.content_hash), tuple(s.text for s in store.segments_of_speech(speech_id)),
                             language=speech.language))
    return out


def gold_speech_docs(store: Store, scheme: Scheme, annotators: Sequence[str] | None = None) -> list[SpeechDoc]:
    """One document per speech with speech-level gold frames (those of ``scheme``), the same
    gold the export writes (``store.gold.speech_gold_labels``)."""
    from annotator.store.gold import speech_gold_labels

    known = set(scheme.frame_ids)
    out = []
    for gold in speech_gold_labels(store, annotators):
        doc = speech_docs(store, [gold.speech_id])[0]
        out.append(SpeechDoc(doc.id, doc.segments, tuple(f for f in gold.frames if f in known), doc.language))
    return out

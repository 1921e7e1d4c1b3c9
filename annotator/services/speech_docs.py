"""Speeches as the speech-level frames models read them (``ml.speech_frames.SpeechDoc``), from
the store: their segments' texts, their gold frames, and their side of the project's one
train/dev/test split."""

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


def split_speech_docs(store: Store, docs: Sequence[SpeechDoc]) -> tuple[list[SpeechDoc], list[SpeechDoc], list[SpeechDoc]]:
    """Train / dev / test by the project's one split: a speech keeps the side it was given the
    first time it was used (for its segments' labels or its own), and new ones are placed now
    and kept (``store.gold.project_sides``)."""
    from annotator.splits import label_keys, split_examples_by_side
    from annotator.store.gold import project_sides

    sides = project_sides(store, [(d.id, label_keys(d.frames, ())) for d in docs])
    train, dev, test = split_examples_by_side(list(docs), sides)
    return train, dev, test

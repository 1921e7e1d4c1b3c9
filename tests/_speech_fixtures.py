"""A small project labelled at both levels, for the speech frames tests: each speech has one
topic (its speech-level frame); some of its segments carry the topic's words, the others are
filler that only the speech as a whole explains. Built with the Store API only."""

from __future__ import annotations

import hashlib
import random

from annotator.store import AnnotationState, Store

TOPICS = {
    "Economic": ["taxes", "budget", "wages", "jobs", "growth", "inflation", "Steuern", "Wirtschaft", "emplois"],
    "Security_and_defense": ["army", "border", "soldiers", "missiles", "attack", "Armee", "Grenze", "guerre"],
    "Health_and_safety": ["hospital", "nurses", "vaccine", "doctors", "illness", "Krankenhaus", "santé", "médecins"],
}
LABELS = list(TOPICS)
FILLER = ["we", "must", "the", "and", "today", "our", "people", "will", "now", "for", "thank", "you"]


def speech_texts(topic: str, rng: random.Random, n: int = 6) -> list[str]:
    texts = []
    for i in range(n):
        words = (rng.sample(TOPICS[topic], 3) if i % 2 == 0 else []) + rng.sample(FILLER, 5)
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
    return texts


def add_speech(store: Store, title: str, texts: list[str], language: str = "en") -> int:
    text = " ".join(texts)
    segments, pos = [], 0
    for t in texts:
        segments.append({"start": pos, "end": pos + len(t), "text": t, "language": language})
        pos += len(t) + 1
    return store.add_speech({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text,
                             "title": title, "language": language}, segments)


def build_speech_project(store: Store, n_speeches: int = 40, seed: int = 7, segment_labels: bool = True,
                         annotator: str = "ann") -> dict[int, str]:
    """``n_speeches`` speeches, every one labelled as a whole with its topic by ``annotator``,
    and (``segment_labels``) the segments of every other speech labelled too (topic words:
    the topic; filler: nothing). Returns each speech's topic."""
    rng = random.Random(seed)
    topics = {}
    for s in range(n_speeches):
        topic = LABELS[s % len(LABELS)]
        speech_id = add_speech(store, f"Speech {s} on {topic}", speech_texts(topic, rng))
        topics[speech_id] = topic
        store.decide_speech(speech_id, annotator, AnnotationState((topic,), (), "accepted"))
        if segment_labels and s % 2 == 0:
            for seg in store.segments_of_speech(speech_id):
                cue = any(w in seg.text.lower() for w in (x.lower() for x in TOPICS[topic]))
                store.decide(seg.id, annotator, AnnotationState((topic,) if cue else (), (),
                                                                "accepted" if cue else "rejected"))
    return topics

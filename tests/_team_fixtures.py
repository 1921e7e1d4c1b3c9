"""A small multilingual project for the export and team tests (imported by test_export/test_team)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from annotator.store import AnnotationState, SpanLabel, Store

EN_SLOGAN = "Make America great again"


def english_segments(i: int) -> list[str]:
    return [f"{EN_SLOGAN}, said speaker {i}.", f"We will cut taxes for families in district {i}.",
            f"Thank you and good night from town {i}."]


def chinese_segments(i: int) -> list[str]:
    return [f"我们要坚持网络强国战略第{i}次。", f"人民的美好生活第{i}章。", f"谢谢大家第{i}回。"]


def add_speech(store: Store, title: str, language: str, texts: list[str]) -> int:
    sep = "" if language == "zh" else " "
    text = sep.join(texts)
    segments, pos = [], 0
    for t in texts:
        start = text.index(t, pos)
        segments.append({"start": start, "end": start + len(t), "text": t})
        pos = start + len(t)
    speech = {"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text, "language": language,
              "title": title}
    speech_id = store.add_speech(speech, segments)
    assert speech_id is not None
    return speech_id


def build_corpus(store: Store, n_en: int = 8, n_zh: int = 2) -> None:
    """``n_en`` English and ``n_zh`` Chinese speeches of three segments each, no decisions."""
    for i in range(n_en):
        add_speech(store, f"English speech {i}", "en", english_segments(i))
    for i in range(n_zh):
        add_speech(store, f"Chinese speech {i}", "zh", chinese_segments(i))


def slogan_span(text: str) -> tuple[SpanLabel, ...]:
    for phrase in (EN_SLOGAN, "网络强国"):
        if phrase in text:
            start = text.index(phrase)
            return (SpanLabel(start, start + len(phrase), "Slogan"),)
    return ()


def label_everything(store: Store, annotator: str = "ann") -> None:
    """``annotator`` labels every segment: first of a speech Political + slogan, second Economic,
    third rejected."""
    for seg in store.iter_segments():
        pos = seg.position % 3
        if pos == 0:
            state = AnnotationState(("Political",), slogan_span(seg.text), "corrected")
        elif pos == 1:
            state = AnnotationState(("Economic",), (), "accepted")
        else:
            state = AnnotationState((), (), "rejected")
        store.decide(seg.id, annotator, state)


def build_project(store: Store) -> dict[str, int]:
    """The corpus labelled by ``ann``, plus a second annotator, an adjudicator and a skip.

    Returns the segment ids the tests look at.
    """
    build_corpus(store)
    label_everything(store, "ann")
    s0 = store.segments_of_speech(1)
    s1 = store.segments_of_speech(2)
    s2 = store.segments_of_speech(3)
    # Speech 1: bob agrees on the slogan, adds a frame on the second segment (a tie with two
    # annotators) and labels Political where ann rejected (another tie).
    store.decide(s0[0].id, "bob", AnnotationState(("Political",), slogan_span(s0[0].text), "accepted"))
    store.decide(s0[1].id, "bob", AnnotationState(("Economic", "Quality_of_life"), (), "corrected"))
    store.decide(s0[2].id, "bob", AnnotationState(("Political",), (), "corrected"))
    # Speech 2: bob disagrees, an adjudicator settles it.
    store.decide(s1[1].id, "bob", AnnotationState(("Morality",), (), "corrected"))
    store.decide(s1[1].id, "adjudicator:carla", AnnotationState(("Morality",), (), "corrected"))
    # Speech 3: the third segment was skipped, so it has no gold label.
    store.decide(s2[2].id, "ann", AnnotationState((), (), "skipped"))
    return {"agree": s0[0].id, "tie_frame": s0[1].id, "tie_reject": s0[2].id, "adjudicated": s1[1].id,
            "skipped": s2[2].id}


def decide_many(db_path: str, annotator: str, n: int, barrier=None, pause: float = 0.002) -> None:
    """Worker for the concurrency test: ``n`` decisions from one process on a shared WAL file.

    ``barrier`` (a multiprocessing Barrier) makes both writers start at the same moment; the
    short ``pause`` between decisions is a fast human: without it, one tight loop re-takes the
    write lock before SQLite's busy handler wakes the other process, and they would take turns
    only once (nothing is lost either way, but the test would not show interleaving).
    """
    store = Store.open(Path(db_path))
    ids = [seg.id for seg in store.iter_segments()]
    if barrier is not None:
        barrier.wait(30)
    for k in range(n):
        frames = ("Economic",) if k % 2 else ("Political",)
        store.decide(ids[k % len(ids)], annotator, AnnotationState(frames, (), "accepted"))
        time.sleep(pause)
    store.close()

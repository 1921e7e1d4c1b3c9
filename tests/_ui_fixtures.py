"""A small multilingual project for the annotation UI tests: built with the Store API only."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from annotator.store import GLOSSARY_VERSION, GlossaryEntry, Store, Suggestion

FRAMES_VERSION = "frames-test-v1"
SPANS_VERSION = "spans-test-v1"

# (language, title, segments). Segment texts are chosen to break naive rendering.
SPEECHES = [
    ("en", "State of the [bold]Union[/]", [
        "We will build a stronger economy for every family.",
        "Text with [bold]x[/] and \x1b[31mred\x1b[0m escapes [link=http://x]click[/link].",
        "Security and defense come first 🇺🇸 for all of us.",
    ]),
    ("zh", "政府工作报告", [
        "我们要建设网络强国，推动高质量发展。",
        "坚持以人民为中心的发展思想。",
    ]),
    ("ar", "خطاب", ["نحن نبني اقتصادا قويا لكل الأسر."]),
    ("he", "נאום", ["אנחנו נבנה כלכלה חזקה (לכולם)."]),
    ("el", "Ομιλία", ["Η οικονομία μας θα γίνει πιο ισχυρή.", "Cafe\u0301 👩\u200d🔬 and more."]),
]


def speech_record(language: str, title: str, segments: list[str]) -> tuple[dict, list[dict]]:
    text = "\n".join(segments)
    speech = {"content_hash": hashlib.sha256(text.encode()).hexdigest(), "title": title,
              "speaker": "Speaker", "date": "2024-01-01", "language": language, "text": text}
    segs, start = [], 0
    for s in segments:
        segs.append({"start": start, "end": start + len(s), "text": s, "language": language})
        start += len(s) + 1
    return speech, segs


# The frames version's labels: every frame of the framing scheme but the last (a label added to
# the scheme after the model was trained), with per-label thresholds as training tunes them.
FRAMES_LABELS = ["Economic", "Capacity_and_resources", "Morality", "Fairness_and_equality",
                 "Legality_Constitutionality_and_jurisprudence", "Policy_prescription_and_evaluation",
                 "Crime_and_punishment", "Security_and_defense", "Health_and_safety", "Quality_of_life",
                 "Cultural_identity", "Public_opinion", "Political"]
FRAMES_THRESHOLDS = {"Economic": 0.5, "Policy_prescription_and_evaluation": 0.3, "Security_and_defense": 0.35,
                     "Quality_of_life": 0.6, "Political": 0.35}
# Every label's score for the first English segment, as a run records them (the version's label order).
FIRST_EN_SCORES = {"Economic": 0.91, "Quality_of_life": 0.62, "Policy_prescription_and_evaluation": 0.24,
                   "Security_and_defense": 0.31, "Political": 0.2}


def register_models(store: Store, folder: Path) -> None:
    for version, kind in ((FRAMES_VERSION, "frames"), (SPANS_VERSION, "spans")):
        meta = {"version": version, "kind": kind}
        if kind == "frames":
            meta |= {"labels": FRAMES_LABELS, "thresholds": FRAMES_THRESHOLDS}
        store.register_model(version, kind, str(folder), meta)
        store.set_active_model(kind, version)


def build_project(path: Path | None = None, with_suggestions: bool = True) -> Store:
    """Speeches in five scripts; suggestions for the first English and the first Chinese segment."""
    store = Store.open(path) if path else Store.in_memory()
    for lang, title, segs in SPEECHES:
        store.add_speech(*speech_record(lang, title, segs))
    register_models(store, Path(path or ".").parent)
    if with_suggestions:
        ids = store.segment_ids()
        first_en, first_zh = ids[0], ids[3]
        store.replace_suggestions(first_en, FRAMES_VERSION, [
            Suggestion(first_en, FRAMES_VERSION, "frame", "Economic", 0.91),
            Suggestion(first_en, FRAMES_VERSION, "frame", "Quality_of_life", 0.62),
        ], uncertainty=0.3, info={"top": [["Economic", 0.91], ["Quality_of_life", 0.62], ["Political", 0.2]],
                                   "scores": [FIRST_EN_SCORES.get(label, 0.01) for label in FRAMES_LABELS]})
        store.replace_suggestions(first_en, SPANS_VERSION, [
            Suggestion(first_en, SPANS_VERSION, "span", "Slogan", 0.8, 8, 32)])  # "build a stronger economy"
        store.add_glossary([GlossaryEntry("网络强国", "zh", "cyberpower", "official", "test")])
        store.replace_suggestions(first_zh, GLOSSARY_VERSION, [
            Suggestion(first_zh, GLOSSARY_VERSION, "span", "Slogan", 1.0, 5, 9, {"rendering": "cyberpower"})])
        store.replace_suggestions(first_zh, FRAMES_VERSION, [
            Suggestion(first_zh, FRAMES_VERSION, "frame", "Political", 0.7)],
            uncertainty=0.6, info={"top": [["Political", 0.7], ["Economic", 0.65]],  # a run of old: top scores only
                                   "thresholds": {"Political": 0.5, "Economic": 0.7}})
        store.add_translation(first_zh, "en", "We will build [red]a cyberpower[/red].", "model", "mt-test")
    return store


@pytest.fixture(name="db")
def ui_db(tmp_path) -> Path:
    """A small project on disk (the UI tests' ``db``): import ``ui_db`` to use it."""
    path = tmp_path / "ui.db"
    build_project(path).close()
    return path


def saved(path: Path, segment_id: int, annotator: str = "ann"):
    """Read a decision back through a separate connection: only committed ones are visible."""
    store = Store.open(path)
    try:
        return store.annotation(segment_id, annotator)
    finally:
        store.close()

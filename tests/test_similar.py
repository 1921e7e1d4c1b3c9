"""More segments like this one: the nearest segments by cosine over the project's sentence
embeddings (the active frames version's encoder), as a service and as the annotate screen's ``m``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from _ui_fixtures import speech_record
from test_ui_team import SIZE, record_notifications, screen_of

import annotator.ml.embeddings as embeddings
from annotator.errors import ModelNotFoundError
from annotator.ml.embeddings import encoder_key, text_key
from annotator.ml.engine import runner_name
from annotator.ml.registry import ModelMeta, write_meta
from annotator.services.similar import similar_segments
from annotator.store import Store
from annotator.ui.app import make_app

PREFIX, MAX_LENGTH = "query: ", 64

TARGET = "We will build a stronger economy for every family."
# text -> how close its vector is to the target's (cosine); the store order is not this order
CLOSENESS = {
    "Our soldiers keep the border safe.": 0.1,
    "We will build a stronger economy for each family.": 0.99,
    "Taxes will fall for working people.": 0.5,
    "我们要建设更强大的经济，造福每个家庭。": 0.9,  # the same thought in Chinese
    "The weather was fine on election day.": -0.3,
    "A stronger economy, for every family.": 0.95,
    "نحن نبني اقتصادا قويا لكل الأسر.": 0.8,
}


def vector_at(cosine: float, dim: int = 32) -> np.ndarray:
    """A unit vector at ``cosine`` to the first axis."""
    v = np.zeros(dim, np.float32)
    v[0], v[1] = cosine, np.sqrt(max(1 - cosine * cosine, 0.0))
    return v


def project(tmp_path: Path, encoder: Path, texts: list[str]) -> tuple[Path, list[int]]:
    """A project whose active frames version embeds with ``encoder``; one speech per text
    (three languages); the segments' ids in the order of ``texts``."""
    path = tmp_path / "sim.db"
    store = Store.open(path)
    ids = []
    for n, text in enumerate(texts):
        lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "ar" if any(
            "\u0600" <= c <= "\u06ff" for c in text) else "en"
        # a sentence said twice comes in a speech of its own (a speech is kept once per text)
        sid = store.add_speech(*speech_record(lang, f"speech {n}", [text, *(["Thank you."] * texts[:n].count(text))]))
        ids.append(store.segments_of_speech(sid)[0].id)
    folder = tmp_path / "models" / "frames" / "frames-sim"
    folder.mkdir(parents=True)
    # the version's meta.json is all the similarity search reads of it: the encoder and how it was called
    write_meta(folder, ModelMeta(kind="frames", version="frames-sim", base=str(encoder), method="linear",
                                 extra={"prefix": PREFIX, "max_length": MAX_LENGTH}))
    store.register_model("frames-sim", "frames", str(folder), {"version": "frames-sim", "kind": "frames"})
    store.set_active_model("frames", "frames-sim")
    store.close()
    return path, ids


def keep_vectors(path: Path, encoder: Path, vectors: dict[str, np.ndarray]) -> None:
    store = Store.open(path)
    engine = runner_name(encoder)  # the vectors of the engine that embeds here (PyTorch or int8)
    store.embedding_cache(encoder_key(encoder)).put(
        {text_key(t, PREFIX, MAX_LENGTH, engine): v for t, v in vectors.items()})
    store.close()


@pytest.fixture
def known(tmp_path, tiny_encoder_dir, monkeypatch):
    """Every text's vector already in the store, at a known cosine to the target's; the encoder
    must not run."""
    texts = [*list(CLOSENESS)[:3], TARGET, *list(CLOSENESS)[3:]]
    path, ids = project(tmp_path, tiny_encoder_dir, texts)
    keep_vectors(path, tiny_encoder_dir, {TARGET: vector_at(1.0), **{t: vector_at(c) for t, c in CLOSENESS.items()}})

    def no_encoder(*args, **kwargs):
        raise AssertionError("the encoder ran although every vector was in the store")

    monkeypatch.setattr(embeddings, "_run_encoder", no_encoder)
    by_text = dict(zip(texts, ids))
    nearest_first = [by_text[t] for t in sorted(CLOSENESS, key=lambda t: -CLOSENESS[t])]
    return path, by_text[TARGET], nearest_first


def test_the_nearest_segments_come_first_whatever_the_language(known):
    path, target, nearest_first = known
    store = Store.open(path)
    ranked = similar_segments(store, target, k=4)
    assert [i for i, _ in ranked] == nearest_first[:4]  # English, then the Chinese and Arabic paraphrases
    assert [round(s, 2) for _, s in ranked] == [0.99, 0.95, 0.9, 0.8]
    everything = similar_segments(store, target, k=50)
    assert [i for i, _ in everything] == nearest_first and target not in dict(everything)
    store.close()


def test_missing_vectors_are_embedded_once_and_kept(tmp_path, tiny_encoder_dir):
    near = "We will build a stronger economy for every family!"
    texts = ["Our soldiers keep the border safe at night.", near, "坚持以人民为中心的发展思想。", TARGET,
             "The weather was fine on election day.", TARGET]  # the same sentence in two speeches
    path, ids = project(tmp_path, tiny_encoder_dir, texts)
    store = Store.open(path)
    told: list[tuple[str, int, int]] = []
    ranked = similar_segments(store, ids[3], k=3, progress=lambda *step: told.append(step))
    assert ranked[0][0] == ids[5] and ranked[0][1] == pytest.approx(1.0, abs=1e-3)  # its duplicate
    assert ranked[1][0] == ids[1]  # one character apart
    assert told[-1] == ("embedding", 6, 6)  # six distinct texts ("Thank you." too), each embedded once
    assert store.embedding_counts()[encoder_key(tiny_encoder_dir)] == 6
    told.clear()
    assert similar_segments(store, ids[3], k=3, progress=lambda *step: told.append(step)) == ranked
    assert told == []  # the second time, all from the store
    store.close()


def test_without_an_active_frames_version_it_says_what_to_do(tmp_path):
    store = Store.open(tmp_path / "empty.db")
    sid = store.add_speech(*speech_record("en", "s", [TARGET]))
    with pytest.raises(ModelNotFoundError, match="train"):
        similar_segments(store, store.segments_of_speech(sid)[0].id)
    store.close()


async def test_m_lists_the_segments_like_this_one_and_clearing_the_filter_brings_all_back(known):
    path, target, nearest_first = known
    app = make_app(path, "ann", "framing", suggest=False)
    shown = record_notifications(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = screen_of(app)
        everything = list(screen.session.ids)
        screen.show_segment(target)
        await pilot.pause()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.session.ids == nearest_first, shown
        assert screen.current_id == nearest_first[0]  # the list starts again at its top: the nearest
        header = str(screen.query_one("#who").render())
        assert f"like segment {target} ({len(nearest_first)})" in header
        await pilot.press("f")
        await pilot.pause()
        await pilot.click("#clear")
        await pilot.pause()
        assert screen.session.ids == everything
        assert "like segment" not in str(screen.query_one("#who").render())

"""bfloat16 autocast (used on CPUs with AVX-512 BF16) changes scores only in the last digits."""

from __future__ import annotations

import pytest
from _ml_fixtures import tiny_encoder_dir, tiny_frames_dir  # noqa: F401

from annotator.ml import batching
from annotator.ml.frames import FrameClassifier
from annotator.ml.embeddings import embed_texts

TEXTS = ["我们要建设网络强国。", "La France est une grande nation.", "Мы защитим нашу Родину.", "Yes we can."]


@pytest.fixture
def bf16(monkeypatch):
    def switch(on: bool) -> None:
        monkeypatch.setenv("ANNOTATOR_BF16", "1" if on else "0")
        batching.use_bf16.cache_clear()
    yield switch
    batching.use_bf16.cache_clear()


def test_bf16_frame_scores_stay_close(tiny_frames_dir, bf16):
    clf = FrameClassifier(tiny_frames_dir)
    bf16(False)
    exact = clf.predict(TEXTS)
    bf16(True)
    fast = clf.predict(TEXTS)
    for a, b in zip(exact, fast):
        assert max(abs(a[k] - b[k]) for k in a) < 0.03


def test_bf16_embeddings_stay_close(tiny_encoder_dir, bf16):
    bf16(False)
    exact = embed_texts(tiny_encoder_dir, TEXTS)
    bf16(True)
    fast = embed_texts(tiny_encoder_dir, TEXTS)
    assert ((exact * fast).sum(axis=1) > 0.99).all()  # cosine of unit vectors

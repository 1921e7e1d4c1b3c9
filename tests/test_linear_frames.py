"""The quick frames model: logistic regression over sentence embeddings and character n-grams,
trained in seconds; it must learn (beat the majority baseline on held-out speeches), round-trip
without pickles, embed each text once per encoder, and be chosen by dev score in training."""

from __future__ import annotations

import random

import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401

from annotator.ml import embeddings
from annotator.ml.baselines import MajorityFrames, TfidfFrames
from annotator.ml.examples import Example
from annotator.ml.linear import MAX_CONTEXT_WEIGHT, LinearFrameModel
from annotator.ml.scoring import evaluate_frames
from annotator.splits import split_training_examples

LABELS = ["Economic", "Security_and_defense", "Health_and_safety"]
WORDS = {
    "Economic": ["taxes", "budget", "wages", "jobs", "growth", "inflation", "Steuern", "Wirtschaft", "emplois"],
    "Security_and_defense": ["army", "border", "soldiers", "missiles", "attack", "Armee", "Grenze", "guerre"],
    "Health_and_safety": ["hospital", "nurses", "vaccine", "doctors", "illness", "Krankenhaus", "santé", "médecins"],
}
FILLER = ["we", "must", "the", "and", "today", "our", "people", "will", "now", "for"]


def examples(n_speeches: int = 30, per_speech: int = 4, seed: int = 3) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for s in range(n_speeches):
        for i in range(per_speech):
            label = LABELS[(s + i) % 3] if (s * per_speech + i) % 5 else LABELS[0]  # Economic most frequent
            words = rng.sample(WORDS[label], 2) + rng.sample(FILLER, 4)
            rng.shuffle(words)
            out.append(Example(f"{s}-{i}", " ".join(words), "en", [label], [], f"speech-{s}"))
    return out


@pytest.fixture(scope="module")
def split():
    return split_training_examples(examples())


def test_the_linear_model_learns_and_beats_the_majority_baseline(tiny_encoder_dir, split):
    train, dev, test = split
    model = LinearFrameModel().fit(train, tiny_encoder_dir, LABELS, dev=dev)
    majority = MajorityFrames().fit(train, LABELS)
    ours, base = evaluate_frames(model, test), evaluate_frames(majority, test)
    assert ours["micro_f1"] > base["micro_f1"] + 0.2, (ours["micro_f1"], base["micro_f1"])
    assert evaluate_frames(TfidfFrames().fit(train, LABELS, dev), test)["micro_f1"] > base["micro_f1"]
    assert set(model.thresholds) == set(LABELS) and abs(sum(model.weights.values()) - 1) < 1e-6


def test_a_saved_linear_version_predicts_the_same_and_holds_no_pickle(tiny_encoder_dir, split, tmp_path):
    train, dev, test = split
    model = LinearFrameModel().fit(train, tiny_encoder_dir, LABELS, dev=dev)
    folder = model.save(scheme="framing", root=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["linear.safetensors", "meta.json", "vocabulary.json"]
    again = LinearFrameModel.load(folder, root=tmp_path)
    texts = [ex.text for ex in test]
    assert again.predict_matrix(texts) == pytest.approx(model.predict_matrix(texts), abs=1e-5)
    assert evaluate_frames(folder, test) == evaluate_frames(model, test)


class MemoryCache:
    def __init__(self):
        self.vectors = {}

    def get(self, keys):
        return {k: self.vectors[k] for k in keys if k in self.vectors}

    def put(self, vectors):
        self.vectors.update(vectors)


def test_each_text_is_embedded_once_per_encoder(tiny_encoder_dir, split, monkeypatch):
    train, dev, _ = split
    runs = []
    real = embeddings._run_encoder
    monkeypatch.setattr(embeddings, "_run_encoder", lambda d, texts, *a: runs.append(len(texts)) or real(d, texts, *a))
    cache = MemoryCache()
    first = LinearFrameModel()
    first.embedding_cache = cache
    first.fit(train, tiny_encoder_dir, LABELS, dev=dev)
    encoded = sum(runs)
    assert encoded == len({ex.text for ex in [*train, *dev]})
    second = LinearFrameModel()
    second.embedding_cache = cache
    second.fit(train, tiny_encoder_dir, LABELS, dev=dev)  # retraining: the encoder does not run
    assert sum(runs) == encoded
    texts = [ex.text for ex in train[:5]]
    assert second.embed(texts) == pytest.approx(real(tiny_encoder_dir, texts, "query: ", 128), abs=2e-3)


def test_the_project_keeps_the_embeddings(store, tiny_encoder_dir):
    from annotator.ml.embeddings import embed_texts, encoder_key

    cache = store.embedding_cache(encoder_key(tiny_encoder_dir))
    texts = ["We will cut taxes.", "Our soldiers defend the border.", "We will cut taxes."]
    first = embed_texts(tiny_encoder_dir, texts, cache=cache)
    assert store.embedding_counts() == {encoder_key(tiny_encoder_dir): 2}
    assert embed_texts(tiny_encoder_dir, texts, cache=cache) == pytest.approx(first, abs=2e-3)  # float16 kept


def speeches_with_context(n_speeches: int = 36, seed: int = 5) -> list[Example]:
    """Each speech has one topic; half its segments carry the topic's words, the other half are
    filler that only their speech can explain — labelled with the speech's topic all the same."""
    from annotator.ml.context import contexts_of

    rng = random.Random(seed)
    out = []
    for s in range(n_speeches):
        label = LABELS[s % 3]
        texts = []
        for i in range(6):
            words = (rng.sample(WORDS[label], 3) if i % 2 == 0 else []) + rng.sample(FILLER, 5)
            rng.shuffle(words)
            texts.append(" ".join(words))
        for i, (text, ctx) in enumerate(zip(texts, contexts_of(texts))):
            out.append(Example(f"{s}-{i}", text, "en", [label], [], f"speech-{s}", context=ctx))
    return out


def test_context_explains_sentences_that_carry_no_cue_themselves(tiny_encoder_dir):
    import dataclasses

    train, dev, test = split_training_examples(speeches_with_context())
    model = LinearFrameModel().fit(train, tiny_encoder_dir, LABELS, dev=dev)
    assert model.weights["context"] > 0, model.weights  # dev found the context view useful
    assert model.weights["context"] <= MAX_CONTEXT_WEIGHT, model.weights  # the segment itself keeps half the say
    fillers = [ex for ex in test if int(ex.id.split("-")[1]) % 2 == 1]
    alone = [dataclasses.replace(ex, context=None) for ex in fillers]
    with_context, without = evaluate_frames(model, fillers)["micro_f1"], evaluate_frames(model, alone)["micro_f1"]
    assert with_context > without + 0.2, (with_context, without)


def test_a_linear_version_saved_before_context_still_loads(tiny_encoder_dir, split, tmp_path):
    import json

    from safetensors.numpy import load_file, save_file

    train, dev, test = split
    folder = LinearFrameModel().fit(train, tiny_encoder_dir, LABELS, dev=dev).save(scheme="framing", root=tmp_path)
    tensors = {k: v for k, v in load_file(str(folder / "linear.safetensors")).items() if not k.startswith("context.")}
    save_file(tensors, str(folder / "linear.safetensors"))
    meta = json.loads((folder / "meta.json").read_text())
    meta["extra"].pop("weights")
    meta["extra"]["weight"] = 0.75
    (folder / "meta.json").write_text(json.dumps(meta))
    old = LinearFrameModel.load(folder, root=tmp_path)
    assert old.weights == {"embedding": 0.75, "ngrams": 0.25}
    assert evaluate_frames(folder, test)["micro_f1"] > evaluate_frames(MajorityFrames().fit(train, LABELS), test)["micro_f1"]

"""Training, saving and evaluating frame and span models on a tiny, clearly separable data set.

The encoder is a 2-layer, 32-wide XLM-R with random weights and a tokenizer trained on the test
texts (the project's own fallback encoder builder), so everything runs offline in seconds. The
data makes the task easy on purpose: money words mean Economic, army words Security_and_defense,
hospital words Health_and_safety, in English, German and French; a training run that learns
anything must beat the untrained model on held-out speeches.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from annotator.ml.examples import Example, data_hash  # noqa: E402
from annotator.splits import split_training_examples as split_by_group  # noqa: E402
from annotator.ml.knn import KnnFrameModel  # noqa: E402
from _ml_fixtures import assert_shared_like_new_files, tiny_spans_dir  # noqa: E402,F401
from annotator.ml.registry import read_meta  # noqa: E402
from annotator.ml.scoring import evaluate_frames, evaluate_spans  # noqa: E402
from annotator.ml.train import bio_tags, save_version, train_frames, train_spans  # noqa: E402

LABELS = ["Economic", "Security_and_defense", "Health_and_safety"]

TOPIC_WORDS = {  # few words per topic, so that held-out speeches reuse words seen in training
    "en": {
        "Economic": ["budget", "taxes", "money", "wages"],
        "Security_and_defense": ["army", "war", "soldiers", "weapons"],
        "Health_and_safety": ["hospital", "doctors", "disease", "vaccine"],
    },
    "de": {
        "Economic": ["Haushalt", "Steuern", "Geld", "Löhne"],
        "Security_and_defense": ["Armee", "Krieg", "Soldaten", "Waffen"],
        "Health_and_safety": ["Krankenhaus", "Ärzte", "Krankheit", "Impfstoff"],
    },
    "fr": {
        "Economic": ["budget", "impôts", "argent", "salaires"],
        "Security_and_defense": ["armée", "guerre", "soldats", "armes"],
        "Health_and_safety": ["hôpital", "médecins", "maladie", "vaccin"],
    },
}
FRAMES_TEMPLATES = {
    "en": ["Today we talk about {a} and {b}.", "Our country needs {a}, {b} and courage.", "Nobody can ignore the {a}."],
    "de": ["Heute sprechen wir über {a} und {b}.", "Unser Land braucht {a}, {b} und Mut.", "Niemand kann {a} ignorieren."],
    "fr": ["Aujourd'hui nous parlons de {a} et de {b}.", "Notre pays a besoin de {a}, {b} et courage.", "Personne ne peut ignorer {a}."],
}
SLOGANS = {"en": "make our nation great again", "de": "unser Land zuerst", "fr": "la France d'abord"}
SPAN_CONTEXTS = {
    "en": [("We say ", " tonight."), ("Remember, ", "!"), ("", " is what the people want."), ("They laugh, yet we ", ".")],
    "de": [("Wir sagen: ", " heute Abend."), ("Denkt daran, ", "!"), ("", " ist was das Volk will."), ("Sie lachen, aber ", ".")],
    "fr": [("Nous disons ", " ce soir."), ("Souvenez-vous, ", " !"), ("", " voilà ce que veut le peuple."), ("Ils rient, mais ", ".")],
}
PLAIN = {
    "en": ["The session opens at nine.", "Thank you all for coming here.", "Let me turn to the next point."],
    "de": ["Die Sitzung beginnt um neun.", "Danke, dass Sie gekommen sind.", "Ich komme zum nächsten Punkt."],
    "fr": ["La séance commence à neuf heures.", "Merci à tous d'être venus.", "Passons au point suivant."],
}


def frame_examples(n_speeches: int = 24, per_speech: int = 4, seed: int = 0) -> list[Example]:
    """Segments about one topic (some about two); whole speeches share a language."""
    rng = random.Random(seed)
    out = []
    for s in range(n_speeches):
        lang = ["en", "de", "fr"][s % 3]
        for i in range(per_speech):
            topics = [LABELS[(s + i) % 3]] + ([LABELS[(s + i + 1) % 3]] if i == 3 else [])
            a = rng.choice(TOPIC_WORDS[lang][topics[0]])
            b = rng.choice(TOPIC_WORDS[lang][topics[-1]])
            # a two-topic segment needs a template that names both words
            templates = FRAMES_TEMPLATES[lang][:2] if len(topics) > 1 else FRAMES_TEMPLATES[lang]
            text = rng.choice(templates).format(a=a, b=b)
            out.append(Example(f"f{s}-{i}", text, lang, topics, [], f"speech-{s}"))
    return out


def keyword_examples(n_speeches: int = 12, per_speech: int = 5, seed: int = 2) -> list[Example]:
    """Segments of three topic words each: the easiest case for nearest neighbours."""
    rng = random.Random(seed)
    out = []
    for s in range(n_speeches):
        lang = ["en", "de", "fr"][s % 3]
        for i in range(per_speech):
            topic = LABELS[(s + i) % 3]
            text = " ".join(rng.sample(TOPIC_WORDS[lang][topic], 3))
            out.append(Example(f"k{s}-{i}", text, lang, [topic], [], f"speech-{s}"))
    return out


def span_examples(n_speeches: int = 15, per_speech: int = 4, seed: int = 1) -> list[Example]:
    """Segments that hold the language's slogan in varying contexts, or plain procedure."""
    rng = random.Random(seed)
    out = []
    for s in range(n_speeches):
        lang = ["en", "de", "fr"][s % 3]
        for i in range(per_speech):
            if i == 3:
                out.append(Example(f"s{s}-{i}", rng.choice(PLAIN[lang]), lang, [], [], f"speech-{s}"))
                continue
            before, after = rng.choice(SPAN_CONTEXTS[lang])
            lead = rng.choice(PLAIN[lang]) + " " if rng.random() < 0.5 else ""
            start = len(lead + before)
            text = lead + before + SLOGANS[lang] + after
            out.append(Example(f"s{s}-{i}", text, lang, [], [(start, start + len(SLOGANS[lang]), "Slogan")], f"speech-{s}"))
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and do not fight parallel test runs for cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init XLM-R whose tokenizer was trained on the test texts."""
    from annotator.ml.fallback_encoder import build_fallback_encoder

    texts = [ex.text for ex in frame_examples() + span_examples() + keyword_examples()]
    texts += ["query: " + t for t in texts]  # the knn model's e5 prefix
    return build_fallback_encoder(texts, tmp_path_factory.mktemp("enc") / "encoder-tiny",
                                  vocab_size=1200, layers=2, hidden=32, seed=0)


@pytest.fixture(scope="module")
def frame_splits() -> list[list[Example]]:
    return split_by_group(frame_examples(), (0.6, 0.15, 0.25), seed=0)


FAST = dict(lr=5e-3, batch_size=8, seed=0, warmup_ratio=0.1)


def test_examples_are_well_formed() -> None:
    for ex in span_examples():
        for start, end, label in ex.spans:
            assert ex.text[start:end] == SLOGANS[ex.language] and label == "Slogan"
    assert {lab for ex in frame_examples() for lab in ex.frames} == set(LABELS)


def test_trained_frames_model_beats_untrained(encoder_dir: Path, frame_splits, tmp_path: Path) -> None:
    train, dev, test = frame_splits
    calls: list[tuple[int, int, dict]] = []
    untrained = train_frames(train, dev, encoder_dir, LABELS, epochs=0, **FAST)
    trained = train_frames(train, dev, encoder_dir, LABELS, epochs=30, patience=30,
                           progress=lambda step, total, info: calls.append((step, total, info)), **FAST)
    before, after = evaluate_frames(untrained, test), evaluate_frames(trained, test)
    # Untrained, the best dev thresholds predict every label (micro-F1 about 0.59 here);
    # learning must clear that by a real margin, not by noise.
    assert after["micro_f1"] > before["micro_f1"] + 0.08, (before, after)
    assert set(trained.thresholds) == set(LABELS)
    assert all(0.05 <= t <= 0.95 for t in trained.thresholds.values())
    # progress: one call per step, plus one per epoch for the dev figures
    steps = [c for c in calls if "loss" in c[2]]
    assert steps[-1][0] == steps[-1][1] == 30 * -(-len(train) // 8)
    assert [h["epoch"] for h in trained.history] == list(range(1, 31))
    assert trained.history[trained.best_epoch - 1]["dev_micro_f1"] == max(h["dev_micro_f1"] for h in trained.history)

    # The saved version gives the same figures through the inference class.
    folder = save_version(trained, "frames", "framing+slogans", "sha256:scheme", data_hash(train),
                          {"test": after}, base="encoder/encoder-tiny", root=tmp_path)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not list(folder.glob("*.bin"))
    assert_shared_like_new_files(folder)
    meta = read_meta(folder)
    assert meta.kind == "frames" and meta.method == "finetune" and meta.labels == LABELS
    assert meta.thresholds == trained.thresholds
    assert meta.metrics["test"]["micro_f1"] == pytest.approx(after["micro_f1"])
    assert meta.data_hash == data_hash(train) and meta.extra["best_epoch"] == trained.best_epoch
    config = json.loads((folder / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {str(i): lab for i, lab in enumerate(LABELS)}
    saved = evaluate_frames(folder, test)
    assert saved["micro_f1"] == pytest.approx(after["micro_f1"], abs=0.05)


def test_early_stopping_restores_best_epoch() -> None:
    """The loop stops after ``patience`` epochs without gain and restores the best weights."""
    import torch

    from annotator.ml.train import _Loop, _run_loop

    class Regressor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, x, labels):
            return type("Out", (), {"loss": torch.nn.functional.mse_loss(self.linear(x), labels)})

    torch.manual_seed(0)
    model = Regressor()
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    dev_f1 = iter([0.5, 0.7, 0.6, 0.65, 0.9, 0.95])  # epoch 5 would be better, but patience ends at 4
    snapshots = []

    def evaluate():
        snapshots.append(model.linear.weight.detach().clone())
        f1 = next(dev_f1)
        return (f1, 0.0), {"dev_micro_f1": f1}

    loop = _Loop(epochs=6, lr=0.1, batch_size=4, max_length=8, seed=0, patience=2, warmup_ratio=0.0,
                 weight_decay=0.0, progress=None)
    history, best = _run_loop(model, 8, lambda idx: {"x": x[idx], "labels": y[idx]}, evaluate, loop, torch.device("cpu"))
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] and best == 2
    assert torch.equal(model.linear.weight, snapshots[1])
    assert not torch.equal(snapshots[1], snapshots[3])


def test_train_frames_without_dev_runs_all_epochs(encoder_dir: Path, frame_splits) -> None:
    train, _, _ = frame_splits
    result = train_frames(train[:8], [], encoder_dir, LABELS, epochs=2, batch_size=8)
    assert [h["epoch"] for h in result.history] == [1, 2] and result.best_epoch == 2
    assert result.thresholds == {lab: 0.5 for lab in LABELS}


def test_frames_training_refuses_empty_train_set(encoder_dir: Path) -> None:
    from annotator.errors import AnnotatorError

    with pytest.raises(AnnotatorError, match="no training examples"):
        train_frames([], [], encoder_dir, LABELS, epochs=1)


def test_trained_span_tagger_beats_untrained(encoder_dir: Path, tmp_path: Path) -> None:
    train, dev, test = split_by_group(span_examples(), (0.6, 0.15, 0.25), seed=0)
    untrained = train_spans(train, dev, encoder_dir, epochs=0, **FAST)
    trained = train_spans(train, dev, encoder_dir, epochs=30, patience=30, **FAST)
    before, after = evaluate_spans(untrained, test), evaluate_spans(trained, test)
    assert after["partial_f1"] > before["partial_f1"]
    assert after["partial_f1"] >= 0.7, after
    folder = save_version(trained, "spans", "framing+slogans", "sha256:scheme", data_hash(train),
                          {"test": after}, base="encoder/encoder-tiny", root=tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(3)] == bio_tags() == ["O", "B-Slogan", "I-Slogan"]
    assert read_meta(folder).labels == ["Slogan"]
    saved = evaluate_spans(folder, test)
    assert saved["partial_f1"] == pytest.approx(after["partial_f1"], abs=0.05)


def test_span_training_windows_cover_long_segments(encoder_dir: Path) -> None:
    from annotator.ml.train import _span_windows

    from annotator.ml.loading import load_tokenizer

    tokenizer = load_tokenizer(encoder_dir)
    filler = "Thank you all for coming here. " * 12
    text = filler + SLOGANS["en"] + "!"
    start = len(filler)
    ex = Example("long", text, "en", [], [(start, start + len(SLOGANS["en"]), "Slogan")], "g")
    ids, targets = _span_windows(tokenizer, [ex], bio_tags(), max_length=32)
    assert len(ids) > 1  # the segment was cut into windows
    assert any(1 in t for t in targets), "the slogan past the first window still teaches B-Slogan"
    assert all(t[0] == -100 and t[-1] == -100 for t in targets)  # <s> and </s> ignored


def test_save_version_rejects_wrong_kind(encoder_dir: Path, frame_splits, tmp_path: Path) -> None:
    from annotator.errors import AnnotatorError

    result = train_frames(frame_splits[0][:4], [], encoder_dir, LABELS, epochs=1)
    with pytest.raises(AnnotatorError):
        save_version(result, "spans", "s", "h", "d", {}, base="b", root=tmp_path)
    assert not (tmp_path / "spans").exists()


def test_knn_beats_chance_and_round_trips(encoder_dir: Path, tmp_path: Path) -> None:
    # A random-init encoder knows no meanings, only which tokens a text holds: give it texts
    # made of topic words alone, so that sharing tokens means sharing a topic.
    train, dev, test = split_by_group(keyword_examples(), (0.6, 0.15, 0.25), seed=0)
    knn = KnnFrameModel(k=5).fit(train, encoder_dir, LABELS)
    single = [ex for ex in test if len(ex.frames) == 1]
    scores = knn.predict([ex.text for ex in single])
    assert all(set(row) == set(LABELS) and all(0.0 <= v <= 1.0 for v in row.values()) for row in scores)
    hits = sum(max(row, key=row.get) == ex.frames[0] for row, ex in zip(scores, single))
    assert hits / len(single) > 0.5, f"{hits}/{len(single)} right; chance is 1/3"

    knn.tune_thresholds(dev)
    metrics = evaluate_frames(knn, test)
    folder = knn.save(scheme="framing+slogans", scheme_hash="sha256:x", metrics={"test": metrics}, root=tmp_path)
    meta = read_meta(folder)
    assert meta.method == "knn" and meta.kind == "frames" and meta.thresholds == knn.thresholds
    assert (folder / "embeddings.safetensors").is_file()
    assert_shared_like_new_files(folder)
    again = KnnFrameModel.load(folder, root=tmp_path)
    for lab in LABELS:
        assert again.predict([single[0].text])[0][lab] == pytest.approx(scores[0][lab], abs=1e-5)
    assert evaluate_frames(folder, test)["micro_f1"] == pytest.approx(metrics["micro_f1"])


def test_freeze_embeddings_keeps_word_embeddings(encoder_dir: Path, frame_splits) -> None:
    train = frame_splits[0][:8]
    frozen = train_frames(train, [], encoder_dir, LABELS, epochs=1, batch_size=4, lr=1e-2, freeze_embeddings=True)
    # the tiny vocabulary is below LARGE_VOCABULARY, so by default its embeddings learn
    learning = train_frames(train, [], encoder_dir, LABELS, epochs=1, batch_size=4, lr=1e-2)
    from safetensors.torch import load_file

    original = load_file(str(encoder_dir / "model.safetensors"))
    key = next(k for k in original if k.endswith("word_embeddings.weight"))
    assert frozen.model.get_input_embeddings().weight.detach().equal(original[key])
    assert not learning.model.get_input_embeddings().weight.detach().equal(original[key])
    assert frozen.params["freeze_embeddings"] is True and learning.params["freeze_embeddings"] is False


def test_a_span_threshold_tuned_on_dev_leaves_out_the_low_scoring_spans(tmp_path: Path) -> None:
    """The threshold is the one that maximises partial F1 on dev, and the shared predictor
    applies it: the low-scoring span on a segment without a slogan is no longer suggested."""
    from annotator.ml.spans import Span
    from annotator.ml.train import tune_span_thresholds

    gold = [[(0, 5, "Slogan")], [], [(3, 9, "Slogan")], []]
    found = [[Span(0, 5, "Slogan", 0.9, "")], [Span(0, 4, "Slogan", 0.42, "")],
             [Span(3, 9, "Slogan", 0.8, "")], [Span(2, 6, "Slogan", 0.5, "")]]
    thresholds = tune_span_thresholds(gold, found)
    assert 0.5 < thresholds["Slogan"] <= 0.8  # the false positives (0.42, 0.5) fall below it
    assert tune_span_thresholds([[(0, 5, "Slogan")]], [[Span(0, 5, "Slogan", 0.3, "")]])["Slogan"] == 0.3


def test_the_tagger_applies_its_version_thresholds(tiny_spans_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from annotator.ml.spans import SpanTagger

    folder = tmp_path / "v"
    shutil.copytree(tiny_spans_dir, folder)
    texts = ["We must build a moderately prosperous society in all respects.", "The budget is balanced."] * 4
    everything = SpanTagger(folder).predict(texts)
    scores = sorted(sp.score for row in everything for sp in row)
    assert scores, "the tiny tagger finds spans"
    meta = json.loads((folder / "meta.json").read_text())
    meta["thresholds"] = {"Slogan": scores[len(scores) // 2] + 1e-6}
    (folder / "meta.json").write_text(json.dumps(meta))
    kept = SpanTagger(folder).predict(texts)
    assert 0 < sum(map(len, kept)) < sum(map(len, everything))
    # each kept span reaches its threshold by the one rule (annotator.thresholds), each left out does not
    from annotator.thresholds import reaches

    assert all(reaches(sp.score, meta["thresholds"]["Slogan"]) for row in kept for sp in row)
    assert sum(reaches(sp.score, meta["thresholds"]["Slogan"]) for row in everything for sp in row) == \
        sum(map(len, kept))

"""Model loading and inference: frames, spans, translation, glosses (tiny offline models)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _ml_fixtures import (  # noqa: F401  (session fixtures are used by name)
    FRAME_LABELS,
    make_tiny_frames_model,
    tiny_frames_dir,
    tiny_m2m100_dir,
    tiny_marian_dir,
    tiny_spans_dir,
    make_tiny_translation_model,
)
from annotator.errors import AnnotatorError, ModelNotFoundError, UnsafeModelError
from annotator.ml import loading
from annotator.ml.batching import length_sorted_batches, map_batched
from annotator.ml.frames import FrameClassifier, decide, model_labels
from annotator.ml.gloss import GLOSS_MARK, gloss
from annotator.ml.registry import ModelMeta
from annotator.ml.spans import (
    IGNORE_INDEX,
    Span,
    SpanTagger,
    char_spans_to_token_labels,
    spans_from_token_labels,
)
from annotator.ml.translate import NLLB_CODES, Translator, detect_family, nllb_code

TEXTS = [
    "我们要建设网络强国，坚持党管互联网。",
    "La France est une grande nation.",
    "Крым наш.",
    "Make America great again!",
    "مصر أم الدنيا.",
    "实现中华民族伟大复兴的中国梦。人民对美好生活的向往就是我们的奋斗目标。",
    "  Liberté, égalité, fraternité !  ",
    "好",
]
SPAN_LABEL_NAMES = ["O", "B-Slogan", "I-Slogan"]


# --- loading -------------------------------------------------------------------------------


def test_pickled_weights_are_refused(tmp_path: Path, tiny_frames_dir: Path) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_frames_dir, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded, never unpickled")
    with pytest.raises(UnsafeModelError, match="pytorch_model.bin"):
        FrameClassifier(folder)


def test_missing_folder_names_path_and_command(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "frames" / "frames-20990101-000000"
    with pytest.raises(ModelNotFoundError) as err:
        FrameClassifier(missing)
    message = str(err.value)
    assert str(missing) in message
    assert "`hf download" in message and "\n" not in message


def test_missing_hub_id_names_cache_and_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelNotFoundError) as err:
        loading.resolve_checkpoint("Helsinki-NLP/opus-mt-zh-en")
    message = str(err.value)
    assert "Helsinki-NLP/opus-mt-zh-en" in message and str(tmp_path / "hub") in message
    assert "`hf download Helsinki-NLP/opus-mt-zh-en" in message


def test_hub_id_resolves_from_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_marian_dir: Path) -> None:
    import huggingface_hub.constants as hf_constants

    repo = tmp_path / "hub" / "models--tiny--marian"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(tiny_marian_dir, repo / "snapshots" / commit)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = loading.resolve_checkpoint("tiny/marian")
    assert folder == repo / "snapshots" / commit
    assert Translator("tiny/marian").translate(["Крым наш."], "ru", max_new_tokens=4)[0]


def test_folder_without_tokenizer_is_refused(tmp_path: Path, tiny_frames_dir: Path) -> None:
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "meta.json"):
        shutil.copy(tiny_frames_dir / name, folder / name)
    with pytest.raises(ModelNotFoundError, match="no tokenizer files"):
        FrameClassifier(folder)


def test_models_are_cached_per_folder(tiny_frames_dir: Path) -> None:
    assert FrameClassifier(tiny_frames_dir).model is FrameClassifier(tiny_frames_dir).model


# --- batching ------------------------------------------------------------------------------


def test_length_sorted_batches_cover_every_index_once() -> None:
    batches = length_sorted_batches([5, 1, 9, 3, 7], 2)
    assert batches == [[1, 3], [0, 4], [2]]
    assert map_batched(["ccc", "a", "bb"], 2, lambda b: [t.upper() for t in b]) == ["CCC", "A", "BB"]


# --- frames --------------------------------------------------------------------------------


def test_frames_scores_every_label_in_unit_interval(tiny_frames_dir: Path) -> None:
    scores = FrameClassifier(tiny_frames_dir).predict(TEXTS, batch_size=3)
    assert len(scores) == len(TEXTS)
    for row in scores:
        assert list(row) == FRAME_LABELS
        assert all(0.0 <= s <= 1.0 for s in row.values())


def test_frames_batched_equals_one_by_one(tiny_frames_dir: Path) -> None:
    classifier = FrameClassifier(tiny_frames_dir)
    batched = classifier.predict(TEXTS, batch_size=3)  # length-sorted, so reordered inside
    for text, row in zip(TEXTS, batched):
        single = classifier.predict([text])[0]
        assert all(abs(row[k] - single[k]) < 1e-4 for k in FRAME_LABELS), text
    # The texts differ, so a lost order would show up as different scores.
    assert len({tuple(round(v, 6) for v in r.values()) for r in batched}) == len(TEXTS)


def test_decide_uses_thresholds() -> None:
    scores = {"Economic": 0.9, "Morality": 0.4, "Political": 0.6}
    assert decide(scores, {"Political": 0.7}) == ["Economic"]
    assert decide(scores, {"Morality": 0.3}) == ["Economic", "Political", "Morality"]


def test_generic_config_labels_take_meta_names() -> None:
    class Config:
        id2label = {0: "LABEL_0", 1: "LABEL_1"}

    meta = ModelMeta(kind="frames", version="v", labels=["Economic", "Morality"])
    assert model_labels(Config(), meta) == ["Economic", "Morality"]
    with pytest.raises(AnnotatorError, match="2 outputs"):
        model_labels(Config(), ModelMeta(kind="frames", version="v", labels=["Economic"]))


# --- spans: pure functions -----------------------------------------------------------------


def test_spans_from_token_labels_merges_bio_runs() -> None:
    text = "We say: Make America great again! Yes we can."
    offsets = [(0, 0), (0, 2), (2, 6), (7, 7), (7, 12), (12, 20), (20, 26), (26, 32), (32, 33), (33, 37), (37, 40),
               (40, 44), (44, 45), (0, 0)]
    labels = ["O", "O", "O", "O", "B-Slogan", "I-Slogan", "I-Slogan", "I-Slogan", "O", "I-Slogan", "I-Slogan",
              "I-Slogan", "O", "B-Slogan"]
    probs = [1, 1, 1, 1, 0.9, 0.8, 0.7, 0.6, 1, 0.5, 0.5, 0.5, 1, 1]
    spans = spans_from_token_labels(text, offsets, labels, probs)
    assert [(s.start, s.end, s.label, s.text) for s in spans] == [
        (8, 32, "Slogan", "Make America great again"),  # leading space of "(7, 12)" trimmed
        (34, 44, "Slogan", "Yes we can"),  # a stray I opens a span; the trailing special token is skipped
    ]
    # one word alone is no slogan to suggest ("the", "take"): a run over "Yes" only gives nothing
    assert spans_from_token_labels("Yes.", [(0, 3), (3, 4)], ["B-Slogan", "O"], [0.9, 0.1]) == []
    assert spans[0].score == pytest.approx((0.9 + 0.8 + 0.7 + 0.6) / 4)


def test_b_after_b_starts_a_new_span_and_labels_do_not_mix() -> None:
    text = "网络强国中国梦想"
    offsets = [(i, i + 1) for i in range(len(text))]
    labels = ["B-Slogan", "I-Slogan", "I-Slogan", "I-Slogan", "B-Slogan", "I-Slogan", "B-Tifa", "I-Tifa"]
    spans = spans_from_token_labels(text, offsets, labels, [1.0] * 8)
    assert [(s.text, s.label) for s in spans] == [("网络强国", "Slogan"), ("中国", "Slogan"), ("梦想", "Tifa")]


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet="ab 网络\t", min_size=1, max_size=12),
    data=st.data(),
)
def test_spans_are_real_trimmed_substrings(text: str, data: st.DataObject) -> None:
    n = len(text)
    offsets = data.draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, n)).map(sorted), max_size=10))
    labels = data.draw(st.lists(st.sampled_from(SPAN_LABEL_NAMES), min_size=len(offsets), max_size=len(offsets)))
    for span in spans_from_token_labels(text, offsets, labels, [0.5] * len(offsets)):
        assert text[span.start : span.end] == span.text
        assert span.text and span.text == span.text.strip()


def _tokenize(tokenizer, text: str) -> list[tuple[int, int]]:
    return [tuple(o) for o in tokenizer(text, return_offsets_mapping=True)["offset_mapping"]]


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("我们要建设网络强国，坚持党管互联网。", [(5, 9, "Slogan"), (10, 17, "Slogan")]),
        ("Nous disons : Liberté, égalité, fraternité ! Vive la France.", [(14, 42, "Slogan"), (45, 59, "Slogan")]),
    ],
)
def test_char_spans_round_trip_through_token_labels(tiny_spans_dir: Path, text: str, gold: list) -> None:
    tokenizer = loading.load_tokenizer(tiny_spans_dir)
    offsets = _tokenize(tokenizer, text)
    ids = char_spans_to_token_labels(offsets, gold, SPAN_LABEL_NAMES)
    assert ids[0] == IGNORE_INDEX and ids[-1] == IGNORE_INDEX  # <s> and </s>
    assert ids.count(SPAN_LABEL_NAMES.index("B-Slogan")) == len(gold)
    tags = [SPAN_LABEL_NAMES[i] if i != IGNORE_INDEX else "O" for i in ids]
    back = spans_from_token_labels(text, offsets, tags, [1.0] * len(tags))
    assert [(s.start, s.end, s.label) for s in back] == gold


def test_unknown_span_label_is_an_error() -> None:
    with pytest.raises(AnnotatorError, match="Tifa"):
        char_spans_to_token_labels([(0, 1)], [(0, 1, "Tifa")], SPAN_LABEL_NAMES)


# --- spans: the tagger ---------------------------------------------------------------------


def test_predicted_span_offsets_are_substrings(tiny_spans_dir: Path) -> None:
    tagger = SpanTagger(tiny_spans_dir)
    predicted = tagger.predict(TEXTS, batch_size=3)
    assert len(predicted) == len(TEXTS)
    for text, spans in zip(TEXTS, predicted):
        for span in spans:
            assert isinstance(span, Span) and span.label == "Slogan"
            assert text[span.start : span.end] == span.text == span.text.strip()
            assert 0.0 <= span.score <= 1.0
    # The random head does tag something in both the Chinese and the French sentence.
    assert predicted[0] and predicted[1]


def test_span_batches_equal_one_by_one(tiny_spans_dir: Path) -> None:
    tagger = SpanTagger(tiny_spans_dir)
    batched = tagger.predict(TEXTS, batch_size=3)
    for text, spans in zip(TEXTS, batched):
        single = tagger.predict([text])[0]
        assert [(s.start, s.end) for s in spans] == [(s.start, s.end) for s in single], text
        assert all(abs(a.score - b.score) < 1e-4 for a, b in zip(spans, single))


def test_empty_text_has_no_spans(tiny_spans_dir: Path) -> None:
    assert SpanTagger(tiny_spans_dir).predict(["", "   "]) == [[], []]


# --- translation ---------------------------------------------------------------------------


def test_marian_translates_end_to_end(tiny_marian_dir: Path) -> None:
    translator = Translator(tiny_marian_dir)
    assert translator.family == "marian"
    out = translator.translate(["Крым наш.", "", "La France est une grande nation."], "ru", max_new_tokens=6)
    assert len(out) == 3 and out[1] == ""
    assert all(isinstance(t, str) for t in out) and out[0] and out[2]


def test_multi_target_marian_gets_target_token(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = make_tiny_translation_model(tmp_path_factory.mktemp("m") / "marian-multi", "marian", [">>fr<<", ">>de<<"])
    translator = Translator(folder)
    assert translator._marian_prefix("fr") == ">>fr<< "
    assert translator.translate(["Make America great again!"], "en", "de", max_new_tokens=4)[0]
    with pytest.raises(AnnotatorError, match="'ja'"):
        translator.translate(["Yes we can."], "en", "ja")


def test_m2m100_uses_language_codes(tiny_m2m100_dir: Path) -> None:
    translator = Translator(tiny_m2m100_dir)
    assert translator.family == "m2m100"
    prefix, src, forced_bos = translator._language_setup("zh-Hans", "en")
    assert (prefix, src, forced_bos) == ("", "zh", translator.tokenizer.get_lang_id("en"))
    out = translator.translate(["我们要建设网络强国。", "坚持党管互联网。"], "zh", max_new_tokens=6)
    assert len(out) == 2 and all(isinstance(t, str) and t for t in out)
    assert "__en__" not in out[0]  # the forced language token is not part of the text
    first = translator.tokenizer.convert_ids_to_tokens(translator.tokenizer("好")["input_ids"])[0]
    assert first == "__zh__"
    with pytest.raises(AnnotatorError, match="xx"):
        translator.translate(["好"], "xx")


def test_nllb_table_covers_demo_languages() -> None:
    demo = "zh en de it el ca es gl fr cs hu bg he ru ar pt ja".split()
    assert all(lang in NLLB_CODES for lang in demo)
    assert nllb_code("zh") == "zho_Hans" and nllb_code("ar") == "arb_Arab" and nllb_code("rus_Cyrl") == "rus_Cyrl"
    with pytest.raises(AnnotatorError):
        nllb_code("klingon")


def test_family_detection() -> None:
    class NllbTokenizerFast: ...

    class M2M100Tokenizer: ...

    class T5TokenizerFast: ...

    assert detect_family("m2m_100", NllbTokenizerFast()) == "nllb"  # NLLB reuses the m2m_100 model type
    assert detect_family("m2m_100", M2M100Tokenizer()) == "m2m100"
    assert detect_family("marian", T5TokenizerFast()) == "marian"
    assert detect_family("t5", T5TokenizerFast()) == "plain"


# --- glosses -------------------------------------------------------------------------------


def test_gloss_of_tifa_contains_network() -> None:
    result = gloss("网络强国")
    assert result.line.startswith(GLOSS_MARK)
    assert "network" in result.line
    assert [w for w, _ in result.words] == ["网络", "强国"]


def test_gloss_passes_unknown_text_through_and_is_fast() -> None:
    result = gloss("习近平说 AI 很重要㐀")
    words = dict(result.words)
    assert words[" AI "] is None and words["㐀"] is None
    assert "".join(w for w, _ in result.words) == "习近平说 AI 很重要㐀"
    segment = "我们要坚持党管互联网，建设网络强国，实现中华民族伟大复兴的中国梦。" * 5
    start = time.perf_counter()
    gloss(segment)
    assert time.perf_counter() - start < 0.01


def test_predicted_spans_cover_whole_words_and_never_bare_punctuation() -> None:
    from annotator.ml.spans import spans_from_token_labels

    text = "crimes against humanity now."
    # a subword tagger stopping at "humanit|y", and a stray tag on the final full stop
    offsets = [(0, 6), (7, 14), (15, 22), (22, 23), (24, 27), (27, 28)]
    spans = spans_from_token_labels(text, offsets, ["O", "B-Slogan", "I-Slogan", "O", "O", "B-Slogan"], [0.9] * 6)
    assert [s.text for s in spans] == ["against humanity"]
    # Chinese keeps jieba's words whole: a run that stops inside 强国 is widened to it
    zh = spans_from_token_labels("建设网络强国。", [(0, 2), (2, 4), (4, 5), (5, 6), (6, 7)],
                                 ["O", "B-Slogan", "I-Slogan", "O", "O"], [0.9] * 5)
    assert [s.text for s in zh] == ["网络强国"]


def test_gloss_prefers_the_modern_sense_of_a_simplified_character() -> None:
    from annotator.ml.gloss import gloss

    line = gloss("中国愿同国际社会一道，").line
    assert "愿 to hope" in line and "honest" not in line
    assert "，" not in line  # punctuation is left out of the gloss line

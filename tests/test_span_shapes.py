"""What a suggested slogan span may look like: whole words everywhere (jieba's words in Chinese,
with the known formulations kept whole), never a single word of a spaced language nor a single
Chinese character, and no more spans in one speech than dev speeches showed worth suggesting."""

from __future__ import annotations

import random

from _ml_fixtures import tiny_encoder_dir  # noqa: F401

from annotator.ml.examples import Example
from annotator.ml.span_linear import LinearSpanTagger, _limited
from annotator.ml.spans import Span, is_phrase, snap_to_words
from annotator.ml.words import cuts_a_word, keep_whole
from annotator.services.suggest import compute_spans


def test_a_chinese_span_is_widened_to_jiebas_words():
    text = "网络强国阔步迈进"
    assert snap_to_words(text, 0, 7) == (0, 8)  # 迈 → 迈进
    assert snap_to_words(text, 1, 4) == (0, 4)  # 络强国 → 网络强国
    assert cuts_a_word(text, 0, 7) and not cuts_a_word(text, 0, 8)


def test_a_known_formulation_stays_whole_where_jieba_would_cut_it():
    text = "我们反对网络霸权行径"
    assert snap_to_words(text, 6, 8) == (6, 8)  # 霸权 is a word of its own to jieba
    keep_whole(["网络霸权"])
    assert snap_to_words(text, 6, 8) == (4, 8)  # … until the glossary says 网络霸权 is one


def test_single_words_and_single_characters_are_not_suggested():
    assert not is_phrase("take") and not is_phrase("anytime") and not is_phrase("园")
    assert is_phrase("Take back control") and is_phrase("网络谣言") and is_phrase("#MeToo now")


def test_the_limit_per_speech_keeps_the_best_scored_spans():
    def span(score: float) -> Span:
        return Span(0, 4, "Slogan", score, "text")

    found = [[span(0.6)], [span(0.9), span(0.7)], [span(0.8), span(1.0)]]
    kept = _limited(found, ["a", "a", "b"], 1)
    assert [[sp.score for sp in doc] for doc in kept] == [[], [0.9], [0.8, 1.0]]  # a known formulation: always
    assert _limited(found, ["a", "a", "b"], None) == found


def _chinese_examples(n: int = 24, seed: int = 3) -> list[Example]:
    rng = random.Random(seed)
    slogans = ["网络强国阔步迈进", "打击网络谣言", "构建网络空间命运共同体"]
    filler = ["我们", "今天", "发展", "经济", "人民", "坚持", "推进", "改革", "开放", "建设"]
    out = []
    for i in range(n):
        words = rng.sample(filler, 5)
        text, spans = "".join(words) + "。", []
        if i % 3 == 0:
            slogan = rng.choice(slogans)
            text = "".join(words[:2]) + slogan + "".join(words[2:]) + "。"
            start = len("".join(words[:2]))
            spans = [(start, start + len(slogan), "Slogan")]
        out.append(Example(f"zh-{i}", text, "zh", [], spans, f"speech-{i // 4}"))
    return out


def test_the_quick_tagger_never_cuts_a_chinese_word_and_keeps_to_its_limit(tiny_encoder_dir):  # noqa: F811
    data = _chinese_examples()
    tagger = LinearSpanTagger(use_known=False).fit(data[:16], tiny_encoder_dir, ["Slogan"], dev=data[16:])
    texts = [ex.text for ex in data]
    unlimited = tagger.predict(texts, thresholded=False)
    assert any(unlimited), "the tagger found nothing: the test would prove nothing"
    for text, found in zip(texts, unlimited):
        for sp in found:
            assert not cuts_a_word(text, sp.start, sp.end), sp
            assert is_phrase(sp.text), sp
    tagger.max_per_speech = 1
    speeches = [int(ex.group.split("-")[1]) for ex in data]
    per_speech: dict[int, int] = {}
    for speech, found in zip(speeches, compute_spans(tagger, texts, speeches)):
        per_speech[speech] = per_speech.get(speech, 0) + len(found)
    assert max(per_speech.values()) <= 1


def test_suggestion_chunks_never_cut_a_speech_so_the_limit_sees_all_of_it():
    from annotator.services.suggest import _chunks
    from annotator.store.records import Segment

    segments = [Segment(i, f"u{i}", speech, i, 0, 1, "x", "en")
                for i, speech in enumerate([1] * 5 + [2] * 7 + [3] * 2)]
    chunks = list(_chunks(segments, 4))
    assert [s for c in chunks for s in c] == segments
    assert all(len({s.speech_id for s in c}) == 1 for c in chunks)  # each speech in one chunk
    assert [len(c) for c in chunks] == [5, 7, 2]


def test_where_no_setting_is_precise_enough_the_known_formulations_are_still_suggested(tiny_encoder_dir):  # noqa: F811
    from test_span_linear import examples

    from annotator.ml.span_linear import KNOWN_ONLY

    data = examples(n_speeches=12)
    tagger = LinearSpanTagger().fit(data[:48], tiny_encoder_dir, ["Slogan"], dev=data[48:])
    tagger.thresholds = {"Slogan": KNOWN_ONLY}  # what dev chooses when no setting reaches MIN_PRECISION
    text = "We say it again: Take back control, and now."
    found = tagger.predict([text])[0]
    assert [sp.text for sp in found] == ["Take back control"] and found[0].score == 1.0

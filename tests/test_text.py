"""Text facts are defined once: span mode, the CoNLL export and the span tagger cut a text into
the same words, in every script (Korean was once cut by syllable on screen and by word in the
export)."""

from __future__ import annotations

import pytest

from annotator.export.formats import tokenize
from annotator.ml.spans import snap_to_words
from annotator.text import SUBSTRING_SEARCHED_CHAR, is_unspaced, word_units

TEXTS = {
    "ko": "대한민국 국민 여러분 감사합니다",
    "zh": "坚持网络强国战略",
    "ja": "日本はひとつ",
    "en": "Make America great again",
    "mixed": "우리는 网络强国 and peace",
}


@pytest.mark.parametrize("lang", list(TEXTS))
def test_span_mode_and_conll_cut_words_alike(lang):
    text = TEXTS[lang]
    words = [(s, e) for s, e in word_units(text) if text[s:e].isalnum()]
    conll = [(s, e) for s, e in tokenize(text) if text[s:e].isalnum()]
    assert words == conll


def test_korean_is_cut_by_word_and_searched_by_substring():
    text = TEXTS["ko"]
    assert [text[s:e] for s, e in word_units(text)][:2] == ["대한민국", "국민"]
    assert not is_unspaced("대") and SUBSTRING_SEARCHED_CHAR.search("대")
    assert snap_to_words(text, 1, 2) == (0, 4)  # the tagger widens a span to the whole word


def test_chinese_is_cut_by_character():
    assert len(word_units(TEXTS["zh"])) == len(TEXTS["zh"])
    assert snap_to_words(TEXTS["zh"], 0, 1) == (0, 2)  # the tagger widens 坚 to jieba's word 坚持

"""Chinese word glosses: jieba's words, the modern common sense of CC-CEDICT first, the
formulations the tool cares about kept whole (issue 14)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from annotator.ml.gloss import WORDS_FILE, best_sense, cut, gloss

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo" / "chinese" / "reports-excerpts.jsonl"


def glosses(text: str, known: dict[str, str] | None = None) -> dict[str, str | None]:
    return dict(gloss(text, known).words)


@pytest.mark.parametrize(("word", "meant", "not_meant"), [
    ("筑", "to build", "five-string lute"),  # the reading the commonest compounds (建筑) and the verb tag support
    ("引领", "to lead", "crane"),  # our table: CC-CEDICT's first sense is the old "to crane one's neck"
    ("十八大", "18th (Party) Congress", "eighteen"),  # one word, read by rule
    ("网信", "cybersecurity and informatization", "net"),  # one word CC-CEDICT lacks: our table
])
def test_the_four_glosses_of_the_issue(word: str, meant: str, not_meant: str) -> None:
    result = gloss(word)
    assert result.words == [(word, meant)]
    assert not_meant not in result.line and "·" not in result.line


def test_senses_are_ranked_modern_and_common_first() -> None:
    assert best_sense("愿") == "to hope"  # not "honest; variant of 願"
    assert best_sense("强国") == "powerful country"  # the proper-name reading ("mainland China (ironically)") last
    assert best_sense("了") == "completed action marker"  # jieba tags it a particle: not "to finish"
    assert best_sense("都") == "all"  # a function word keeps CC-CEDICT's order: not du1 "capital city"
    assert best_sense("重点") == "important point"  # a noun: not "to recount"
    assert best_sense("和平") == "peace"  # place names ("Heping District …") after the common word
    assert best_sense("說") == "to speak"  # a traditional spelling votes as its simplified one: not "to persuade"


def test_every_jieba_word_cedict_lacks_is_cut_into_cedict_words() -> None:
    # jieba has 网络安全 as one word, CC-CEDICT has not: it is glossed as its two words
    assert cut("筑牢网络安全屏障") == ["筑牢", "网络", "安全", "屏障"]
    assert glosses("网络安全")["安全"] == "security"


def test_known_formulations_stay_whole_and_carry_their_rendering() -> None:
    known = {"党管互联网": "the Party's management of the internet", "网络强国": "cyber great power"}
    words = glosses("坚持党管互联网，建设网络强国。", known)
    assert words["党管互联网"] == "the Party's management of the internet"
    assert words["网络强国"] == "cyber great power"
    # a caller that does not know them gets the dictionary's words again
    assert cut("建设网络强国。") == ["建设", "网络", "强国", "。"]


def _demo_sentence(fragment: str) -> str:
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        start = text.find(fragment)
        if start >= 0:
            begin = max(text.rfind("。", 0, start), text.rfind("\n", 0, start)) + 1
            return text[begin:text.index("。", start) + 1]
    raise AssertionError(f"{fragment!r} is not in the demo corpus")


def test_sentences_of_the_demo_corpus() -> None:
    from annotator.corpora.glossary import read_seed_glossary

    known = {e.source_text: e.rendering for e in read_seed_glossary()}
    words = glosses(_demo_sentence("坚持创新引领发展"), known)
    assert words["引领"] == "to lead" and words["筑牢"] == "to build solidly"
    words = glosses(_demo_sentence("全面贯彻落实党的二十大"), known)
    assert words["二十大"] == "20th (Party) Congress"
    assert words["二十届"] == "20th (Central Committee)" and words["二中全会"] == "2nd Plenary Session"
    assert words["高质量发展"] == "high-quality development"  # a glossary formulation: its rendering
    words = glosses(_demo_sentence("推动新时代网络强国建设"), known)
    assert words["网络强国"] == "cyberpower"
    words = glosses(_demo_sentence("中国愿同国际社会一道，倡导"), known)
    assert (words["愿"], words["同"]) == ("to hope", "with")
    assert words["人类命运共同体"] == known["人类命运共同体"]


def test_the_word_table_says_why_for_each_word() -> None:
    with open(WORDS_FILE, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["word", "gloss", "why"]
    words = [row[0] for row in rows[1:]]
    assert len(words) == len(set(words))
    assert all(len(row) == 3 and all(cell.strip() for cell in row) for row in rows[1:])

"""The quick slogan tagger: logistic regression over a frozen encoder's token states, with the
known formulations (glossary, annotators' own slogans) as evidence. It must learn slogans that
are rare among plain sentences, suggest few spans where there are none, round-trip without
pickles, and be what ``train`` fits and suggestion uses."""

from __future__ import annotations

import hashlib
import random

import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401

from annotator.metrics import span_scores
from annotator.schemes import get_scheme
from annotator.services.report import text_report
from annotator.ml.baselines import KnownFormulationSpans
from annotator.services.evaluation.sides import gold_examples, split as project_split
from annotator.services.evaluation.spans import KNOWN, QUOTATIONS, evaluate_project_spans
from annotator.services.evaluation.versions import score_versions
from annotator.services.suggest import suggest_all
from annotator.services.training import train_kind
from annotator.store import AnnotationState, SpanLabel, Store
from annotator.ml.examples import Example
from annotator.ml.known import KnownFormulations
from annotator.ml.span_linear import LinearSpanTagger
from annotator.ml.scoring import evaluate_spans
from annotator.splits import split_training_examples
from annotator.text import trimmed_phrase

SLOGANS = ["Make America great again", "Take back control", "Yes we can", "Build back better", "Get Brexit done"]
FILLER = ["we", "must", "the", "and", "today", "our", "people", "will", "now", "for", "schools", "taxes",
          "roads", "hospitals", "work", "hard", "every", "family", "town", "jobs"]


def examples(n_speeches: int = 40, per_speech: int = 6, seed: int = 5) -> list[Example]:
    """Speeches of plain sentences; one sentence in four carries a slogan somewhere inside it."""
    rng = random.Random(seed)
    out = []
    for s in range(n_speeches):
        for i in range(per_speech):
            words = rng.sample(FILLER, 6)
            text = " ".join(words).capitalize() + "."
            spans = []
            if rng.random() < 0.25:
                slogan = rng.choice(SLOGANS)
                cut = rng.randint(1, 5)
                before = " ".join(words[:cut]).capitalize()
                text = f"{before}, {slogan}, {' '.join(words[cut:])}."
                start = len(before) + 2
                spans = [(start, start + len(slogan), "Slogan")]
            out.append(Example(f"{s}-{i}", text, "en", [], spans, f"speech-{s}"))
    return out


@pytest.fixture(scope="module")
def split():
    return split_training_examples(examples())


def test_the_tagger_learns_rare_slogans_with_precision(tiny_encoder_dir, split):
    train, dev, test = split
    tagger = LinearSpanTagger().fit(train, tiny_encoder_dir, ["Slogan"], dev)
    scores = evaluate_spans(tagger, test)
    without = scores["n_without_spans"]
    assert without > len(test) / 2, "most test segments carry no slogan"
    assert scores["partial_f1"] >= 0.75 and scores["partial_precision"] >= 0.6, scores
    # the token states alone learn them too (the slogans marked in training are the rest)
    tokens_only = evaluate_spans(LinearSpanTagger(use_known=False).fit(train, tiny_encoder_dir, ["Slogan"], dev), test)
    assert tokens_only["partial_f1"] >= 0.6, tokens_only
    # what dev chose is kept, and the dev figure is the one tuning saw
    assert tagger.thresholds["Slogan"] > 0 and 0 < tagger.token_thresholds["Slogan"] < 1
    assert tagger.dev_metrics["n_docs"] == len(dev)


def test_known_formulations_are_evidence_and_are_suggested_outright(tiny_encoder_dir, split):
    train, dev, _ = split
    plain = [Example(ex.id, ex.text, ex.language, [], [], ex.group) for ex in train]  # no slogan marked at all
    tagger = LinearSpanTagger().fit(plain, tiny_encoder_dir, ["Slogan"], glossary=["community of shared future"])
    text = "We stand for a community of shared future, said the minister."
    found = tagger.predict([text])[0]
    assert [(sp.text, sp.score) for sp in found] == [("community of shared future", 1.0)]


def test_slogans_marked_in_one_speech_are_found_in_another_but_not_taught_by_their_own():
    known = KnownFormulations.build(["中国式现代化"], "Slogan",
                                    [("Take back control", "Slogan", "speech-1"), ("新质生产力", "Slogan", "speech-2"),
                                     ("war", "Slogan", "speech-3")])  # too short to mark wherever it occurs
    text = "They said: take back control of the war. 加快发展新质生产力，推进中国式现代化。"
    assert [text[s:e] for s, e, _ in known.matches(text)] == ["take back control", "新质生产力", "中国式现代化"]
    assert [text[s:e] for s, e, _ in known.matches(text, leave_out_group="speech-2")] == ["take back control",
                                                                                         "中国式现代化"]
    assert known.matches("Take back controls, untaken back control") == []  # whole words only


def test_a_saved_tagger_predicts_the_same_and_holds_no_pickle(tiny_encoder_dir, split, tmp_path):
    train, dev, test = split
    tagger = LinearSpanTagger().fit(train, tiny_encoder_dir, ["Slogan"], dev, glossary=["Build back better"])
    folder = tagger.save(scheme="framing", root=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["known.json", "meta.json", "span_linear.safetensors"]
    again = LinearSpanTagger.load(folder, root=tmp_path)
    texts = [ex.text for ex in test]
    assert again.predict(texts) == tagger.predict(texts)
    assert again.thresholds == tagger.thresholds and len(again.known) == len(tagger.known)


def test_spans_are_marked_without_the_quotation_marks_around_them():
    text = "他强调“两个确立”，要坚定“四个自信”。 He said: 'Yes we can.' in the U.S."
    first = text.index("“两")
    assert text[slice(*trimmed_phrase(text, first, text.index("，")))] == "两个确立"
    quote = text.index("'Yes")
    assert text[slice(*trimmed_phrase(text, quote, text.index(" in")))] == "Yes we can"
    us = text.index("U.S.")
    assert text[slice(*trimmed_phrase(text, us, len(text)))] == "U.S."


def test_every_decided_segment_counts_those_without_a_slogan_too(tiny_encoder_dir, split):
    train, dev, test = split
    tagger = LinearSpanTagger().fit(train, tiny_encoder_dir, ["Slogan"], dev)
    predicted = tagger.predict_tuples([ex.text for ex in test])
    gold = [ex.spans for ex in test]
    assert evaluate_spans(tagger, test)["partial_f1"] == pytest.approx(span_scores(gold, predicted)["partial_f1"])
    assert evaluate_spans(tagger, test)["n_docs"] == len(test)


UNLABELLED = "Then the crowd shouted take back control with them."  # a slogan in a segment nobody labelled


def slogan_project(path, unlabelled: str | None = None) -> Store:
    """The examples above as a project: a speech per group, every segment decided by ``ann``;
    with ``unlabelled``, each speech ends with one more segment of that text, left undecided."""
    store = Store.open(path)
    by_speech: dict[str, list[Example]] = {}
    for ex in examples():
        by_speech.setdefault(ex.group, []).append(ex)
    for group, exs in by_speech.items():
        texts = [ex.text for ex in exs] + ([unlabelled] if unlabelled else [])
        text = " ".join(texts)
        segs, pos = [], 0
        for t in texts:
            start = text.index(t, pos)
            segs.append({"start": start, "end": start + len(t), "text": t, "language": "en"})
            pos = start + len(t)
        sid = store.add_speech({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text,
                                "language": "en", "title": group}, segs)
        for seg, ex in zip(store.segments_of_speech(sid), exs):
            store.decide(seg.id, "ann", AnnotationState((), tuple(SpanLabel(s, e, lab) for s, e, lab in ex.spans),
                                                        "corrected" if ex.spans else "accepted"))
    return store


def test_train_fits_the_quick_tagger_that_suggestion_uses_and_the_report_shows_it_beside_baselines(
        tmp_path, tiny_encoder_dir):
    store = slogan_project(tmp_path / "s.db", unlabelled=UNLABELLED)
    scheme = get_scheme()
    outcome = train_kind(store, scheme, "spans", base=str(tiny_encoder_dir))  # the default: the quick tagger
    assert outcome.method == "linear" and store.active_models()["spans"] == outcome.version
    assert outcome.seconds < 120 and outcome.dev_metrics["n_docs"] == outcome.sizes["dev"]
    # the suggestions stored are the predictor's, on every segment
    suggest_all(store, translate=False)
    segment = next(s for s in store.iter_segments() if "Take back control" in s.text)
    spans = [(s.start, s.end) for s in store.suggestions(segment.id) if s.model_version == outcome.version]
    start = segment.text.index("Take back control")
    assert (start, start + len("Take back control")) in spans
    # unchanged labels: the same version again, not a copy
    assert train_kind(store, scheme, "spans", base=str(tiny_encoder_dir)).reused
    ev = evaluate_project_spans(store, scheme)
    names = list(ev.rows)
    assert names[0].startswith(f"active: {outcome.version}") and names[1:] == [KNOWN, QUOTATIONS]
    assert ev.rows[names[0]]["partial_f1"] > ev.rows[QUOTATIONS]["partial_f1"]
    # one test set: train, the report and the versions table all score every segment of the test speeches
    assert ev.n_test == outcome.sizes["test"] == outcome.metrics["n_docs"]
    assert ev.rows[names[0]]["partial_f1"] == pytest.approx(outcome.metrics["partial_f1"])
    group = score_versions(store)["spans"]
    assert group.n_test == ev.n_test and [r.version for r in group.rows] == [outcome.version]
    assert not group.rows[0].recorded
    assert group.rows[0].scores["partial_f1"] == pytest.approx(outcome.metrics["partial_f1"])
    text = text_report(store, evaluation=None, spans=ev)
    assert "slogan spans against baselines" in text and f"{ev.n_without} of them without a slogan" in text
    assert f"the project's {ev.n_speeches} test speeches, whole: {ev.n_test} segments" in text
    store.close()


def test_spans_are_scored_on_whole_test_speeches_where_a_slogan_in_an_unlabelled_segment_is_false(tmp_path):
    """A tagger suggests over whole speeches, so it is scored on them: a segment of a test speech
    that nobody labelled is a segment without a slogan, and a span suggested there counts
    against precision, in the report as in training."""
    store = slogan_project(tmp_path / "s.db", unlabelled=UNLABELLED)
    scheme = get_scheme()
    train, dev, test = project_split(store, gold_examples(store, scheme))
    speeches = {ex.group for ex in test}
    ev = evaluate_project_spans(store, scheme)
    assert (ev.n_test, ev.n_speeches) == (len(test) + len(speeches), len(speeches))
    assert ev.n_without == sum(1 for ex in test if not ex.spans) + len(speeches)
    # the known formulations find "take back control" in each unlabelled segment: all false positives
    known = KnownFormulationSpans().fit(train, ["Slogan"], [], dev)
    labelled_only = evaluate_spans(known, test)
    whole = ev.rows[KNOWN]
    assert whole["n_gold"] == labelled_only["n_gold"]
    assert whole["n_pred"] == labelled_only["n_pred"] + len(speeches)
    assert whole["partial_precision"] < labelled_only["partial_precision"]
    store.close()


def test_scoring_applies_the_taggers_limit_of_spans_per_speech_as_suggestion_does(tiny_encoder_dir, split):
    train, dev, test = split
    # the model's own spans only: the limit never cuts a known formulation
    tagger = LinearSpanTagger(use_known=False).fit(train, tiny_encoder_dir, ["Slogan"], dev)
    tagger.max_per_speech = 1
    texts = [ex.text for ex in test]
    unlimited = sum(map(len, tagger.predict_tuples(texts)))
    scores = evaluate_spans(tagger, test)
    speeches = {ex.group for ex in test}
    assert scores["n_pred"] <= len(speeches) < unlimited  # at most one a speech, though it finds more
    assert scores["n_pred"] == sum(map(len, tagger.predict_tuples(texts, groups=[ex.group for ex in test])))
    assert scores["n_speeches"] == len(speeches)

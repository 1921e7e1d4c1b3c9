"""The suggestion service: glossary spans, model suggestions stored per version, the translation
chain (corpus → memory → model → gloss) with provenance, resumable batch runs."""

from __future__ import annotations


from _ml_fixtures import tiny_encoder_dir, tiny_frames_dir, tiny_marian_dir, tiny_spans_dir  # noqa: F401
from click.testing import CliRunner

from annotator.cli import cli
from annotator.services.glossary import ensure_seed
from annotator.store import GLOSSARY_VERSION, Store
from annotator.services.models import register_and_activate
from annotator.services.suggest import (
    glossary_matches,
    suggest_all,
    suggest_segments,
    uncertainty_ranked,
)

ZH = "我们要建设文化强国，坚持高质量发展。"
FR = "La France est une grande nation. Nous défendrons la République."


def add(store: Store, text: str, lang: str, h: str) -> list[int]:
    from annotator.corpora.segment import segment_text

    pieces = segment_text(text, lang)
    sid = store.add_speech({"content_hash": h * 64, "text": text, "language": lang},
                           [{"start": p.start, "end": p.end, "text": p.text, "language": lang} for p in pieces])
    return [s.id for s in store.segments_of_speech(sid)]


def test_glossary_spans_carry_the_official_rendering(store):
    ensure_seed(store)
    matches = glossary_matches(ZH, store.glossary())
    found = {ZH[m.start:m.end]: m.extra["rendering"] for m in matches}
    assert found["文化强国"] == "a country with a strong socialist culture"
    assert "高质量发展" in found and found["高质量发展"] == "high-quality development"


def test_longest_formulation_wins_and_spans_never_overlap(store):
    from annotator.store import GlossaryEntry

    entries = [GlossaryEntry("中国梦", "zh", "Chinese Dream"), GlossaryEntry("中华民族伟大复兴的中国梦", "zh", "the Chinese Dream of national rejuvenation")]
    text = "实现中华民族伟大复兴的中国梦。"
    matches = glossary_matches(text, entries)
    assert [(text[m.start:m.end]) for m in matches] == ["中华民族伟大复兴的中国梦"]


def test_suggest_all_stores_model_and_glossary_suggestions(store, tiny_frames_dir, tiny_spans_dir):
    ensure_seed(store)
    zh_ids = add(store, ZH, "zh", "a")
    fr_ids = add(store, FR, "fr", "b")
    register_and_activate(store, tiny_frames_dir)
    register_and_activate(store, tiny_spans_dir)
    report = suggest_all(store)
    active = store.active_models()
    assert report.segments[active["frames"]] == len(zh_ids) + len(fr_ids)
    glossary = [s for s in store.suggestions(zh_ids[0]) if s.model_version == GLOSSARY_VERSION]
    assert {ZH[s.start:s.end] for s in glossary} >= {"文化强国", "高质量发展"}
    for seg in store.segments(zh_ids + fr_ids):
        for s in store.suggestions(seg.id, [active["spans"]]):
            assert 0 <= s.start < s.end <= len(seg.text)  # offsets inside the segment
        info = store.run_info(seg.id, active["frames"])
        assert len(info["top"]) == 5
        # every label's score, in the version's label order (the screen shows each beside its threshold)
        labels = store.model_meta(active["frames"])["labels"]
        by_label = dict(zip(labels, info["scores"]))
        assert len(info["scores"]) == len(labels)
        assert all(abs(by_label[label] - score) < 1e-3 for label, score in info["top"])
    # Resumable: a second run has nothing left to do.
    again = suggest_all(store)
    assert again.segments == {}
    # Chinese without any translation source gets a word gloss, marked as such.
    t = store.best_translation(zh_ids[0])
    assert t.provenance == "gloss" and t.text.startswith("[gloss]") and "culture" in t.text


def test_translation_chain_prefers_memory_then_model(store, tiny_marian_dir):
    first = add(store, "Nous défendrons la République.", "fr", "c")
    second = add(store, "Bonjour. Nous défendrons la République.", "fr", "d")
    store.add_translation(first[0], "en", "We will defend the Republic.", "human")
    register_and_activate(store, tiny_marian_dir)
    suggest_segments(store, second)
    by_text = {store.segment(i).text: store.best_translation(i) for i in second}
    memory = by_text["Nous défendrons la République."]
    assert (memory.provenance, memory.text) == ("memory", "We will defend the Republic.")
    model = by_text["Bonjour."]
    assert model.provenance == "model" and model.model == store.active_models()["translation"]


def test_low_confidence_first(store, tiny_frames_dir):
    ids = add(store, FR + " Liberté, égalité, fraternité ! Le chômage recule.", "fr", "e")
    register_and_activate(store, tiny_frames_dir)
    suggest_all(store, translate=False)
    version = store.active_models()["frames"]
    unc = store.uncertainties(version)
    ranked = uncertainty_ranked(store, ids)
    assert sorted(ranked) == sorted(ids)
    assert unc[ranked[0]] == max(unc.values())


def test_suggest_cli_without_models_and_setup_says_what_to_do(tmp_path):
    db = tmp_path / "p.db"
    s = Store.open(db)
    add(s, ZH, "zh", "f")
    s.close()
    result = CliRunner().invoke(cli, ["suggest", "--db", str(db), "--no-setup"])
    assert result.exit_code == 0, result.output
    assert "no active frames model (run `annotator models setup`" in result.output


def test_suggest_sets_up_the_default_models_where_none_is_active(tmp_path, tiny_encoder_dir):
    """`annotator import my-speeches/ && annotator suggest`: the first suggestions need no other
    command. A project of one's own has no seed labels: the first models learn from the demo's."""
    folder = tmp_path / "my-speeches"
    folder.mkdir()
    (folder / "fr.txt").write_text(FR, encoding="utf-8")
    (folder / "zh.txt").write_text(ZH, encoding="utf-8")
    db = tmp_path / "p.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(folder), "--db", str(db)]).exit_code == 0
    result = runner.invoke(cli, ["suggest", "--db", str(db), "--base", str(tiny_encoder_dir)])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("no active frames and spans model: setting up the default models first")
    assert "230 seed labels" in first and "on 2 CPU cores" in first and "about " in first
    assert "the first models learn from the 230 seed labels bundled with the demo corpus" in result.output
    store = Store.open(db)
    active = store.active_models()
    assert {"frames", "spans"} <= set(active)
    ids = [s.id for s in store.iter_segments()]
    for seg_id in ids:  # every segment was scored by both new models
        assert store.has_run(seg_id, active["frames"]) and store.has_run(seg_id, active["spans"])
    assert f"{active['frames']}: {len(ids)} segments" in result.output
    store.close()
    again = runner.invoke(cli, ["suggest", "--db", str(db), "--base", str(tiny_encoder_dir)])
    assert "setting up" not in again.output  # once is enough


def test_next_prints_corpus_text_without_escape_codes(tmp_path):
    db = tmp_path / "p.db"
    s = Store.open(db)
    add(s, "Vote \x1b[2J\x1b[31mred[/bold] now. Second sentence here.", "en", "9")
    s.close()
    result = CliRunner().invoke(cli, ["next", "--db", str(db), "--annotator", "x"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "␛[31m" in result.output


def _scored_project(tmp_path, frames_dir, spans_dir):
    db = tmp_path / "q.db"
    s = Store.open(db)
    ids = add(s, FR + " Liberté, égalité, fraternité ! Le chômage recule. Il faut réformer les retraites.", "fr", "q")
    ids += add(s, ZH, "zh", "r")
    register_and_activate(s, frames_dir)
    register_and_activate(s, spans_dir)
    suggest_all(s, translate=False)
    return db, s, ids


def test_next_shows_each_segments_uncertainty_and_the_way_into_the_ui(tmp_path, tiny_frames_dir, tiny_spans_dir):
    import json
    import re

    from annotator.services.suggest import next_to_label, uncertainty_scores

    db, s, ids = _scored_project(tmp_path, tiny_frames_dir, tiny_spans_dir)
    expected = [i for i, _ in next_to_label(s, "x", 4)]
    figures = uncertainty_scores(s, ids)
    s.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["next", "--db", str(db), "--annotator", "x", "-n", "4"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["segment", "lang", "uncertain", "text"]
    rows = [re.match(r"\s*(\d+)\s+(\w+)\s+([\d.]+)\s", line) for line in lines[1:5]]
    assert [int(m.group(1)) for m in rows] == expected
    assert [float(m.group(3)) for m in rows] == [round(figures[i], 3) for i in expected]
    assert lines[5] == "open them in this order: annotator annotate --queue next:4"
    data = json.loads(runner.invoke(cli, ["next", "--db", str(db), "--annotator", "x", "-n", "4", "--json"]).output)
    assert [d["id"] for d in data] == expected and all(d["uncertainty"] is not None for d in data)


async def test_annotate_queue_next_opens_those_segments_in_that_order(tmp_path, tiny_frames_dir, tiny_spans_dir):
    from annotator.services.suggest import next_to_label
    from annotator.ui.app import make_app
    from annotator.ui.widgets import header_text

    db, s, ids = _scored_project(tmp_path, tiny_frames_dir, tiny_spans_dir)
    expected = [i for i, _ in next_to_label(s, "x", 8)]
    assert expected != sorted(expected) and len(expected) == 6  # least certain first, not the corpus order
    s.close()
    app = make_app(db, "x", "framing", suggest=False, queue="next:8")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        assert screen.session.ids == expected
        assert screen.current_id == expected[0]
        assert "queue: next, in its order (6)" in header_text(screen.session).plain
        await pilot.press("a")  # accept: on to the next of the queue
        await pilot.pause()
        assert screen.current_id == expected[1]
        assert screen.session.ids == expected  # a decision keeps the queue


def test_annotate_queue_refuses_what_it_does_not_know(tmp_path):
    db = tmp_path / "p.db"
    s = Store.open(db)
    add(s, FR, "fr", "z")
    s.close()
    result = CliRunner().invoke(cli, ["annotate", "--db", str(db), "--queue", "last:5"])
    assert result.exit_code == 2
    assert result.stderr == ("annotator: error: --queue 'last:5': use next or next:N (the N segments "
                             "`annotator next -n N` lists)\n")

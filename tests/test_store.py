"""The store: transactions, history, undo/redo, migrations, crash safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from sqlite_utils import Database

from annotator.errors import AnnotatorError
from annotator.store import AnnotationState, SegmentFilter, SpanLabel, Store
from annotator.store.db import applied_steps, configure
from annotator.store.schema import SCHEMA_STEPS, migrations


def add_demo_speech(store: Store, text: str = "Hello world. Bye now.", h: str = "a" * 64) -> int:
    segs = [{"start": 0, "end": 12, "text": "Hello world."}, {"start": 13, "end": 21, "text": "Bye now."}]
    return store.add_speech({"content_hash": h, "text": text, "language": "en", "title": "t"}, segs)


def test_decision_is_saved_with_history(store):
    add_demo_speech(store)
    store.decide(1, "ann", AnnotationState(("Economic",), (SpanLabel(0, 5),), "corrected"))
    ann = store.annotation(1, "ann")
    assert ann.state.frames == ("Economic",)
    assert ann.state.spans == (SpanLabel(0, 5, "Slogan"),)
    assert [h["action"] for h in store.history(1)] == ["decide"]


def test_undo_and_redo_walk_the_history(store):
    add_demo_speech(store)
    store.decide(1, "ann", AnnotationState(("Economic",), (), "corrected"))
    store.decide(2, "ann", AnnotationState((), (), "rejected"))
    assert store.undo("ann") == 2
    assert store.annotation(2, "ann") is None
    assert store.undo("ann") == 1
    assert store.annotation(1, "ann") is None
    assert store.undo("ann") is None
    assert store.redo("ann") == 1
    assert store.annotation(1, "ann").state.frames == ("Economic",)
    # A new decision clears what could be redone.
    store.decide(1, "ann", AnnotationState(("Political",), (), "corrected"))
    assert store.redo("ann") is None
    # The history is append-only.
    with pytest.raises(sqlite3.DatabaseError):
        store.db.execute("UPDATE annotation_history SET annotator = 'x'")


def test_undo_is_per_annotator(store):
    add_demo_speech(store)
    store.decide(1, "a", AnnotationState(("Economic",), (), "corrected"))
    store.decide(1, "b", AnnotationState(("Morality",), (), "corrected"))
    assert store.undo("a") == 1
    assert store.annotation(1, "a") is None
    assert store.annotation(1, "b").state.frames == ("Morality",)


def test_bad_status_is_refused_and_nothing_written(store):
    add_demo_speech(store)
    with pytest.raises(AnnotatorError):
        store.decide(1, "ann", AnnotationState((), (), "maybe"))
    assert store.history() == []


def test_failed_transaction_leaves_nothing(store):
    add_demo_speech(store)
    with pytest.raises(RuntimeError):
        with store.write():
            store.decide(1, "ann", AnnotationState(("Economic",), (), "corrected"))
            raise RuntimeError("crash in the middle")
    assert store.annotation(1, "ann") is None
    assert store.history() == []


def test_filters_and_search(store):
    add_demo_speech(store)
    store.add_translation(2, "en", "Goodbye translated", "corpus")
    store.decide(1, "ann", AnnotationState(("Economic",), (), "corrected"))
    assert store.segment_ids(SegmentFilter(status="untouched", annotator="ann")) == [2]
    assert store.segment_ids(SegmentFilter(status="corrected", annotator="ann")) == [1]
    assert store.segment_ids(SegmentFilter(label="Economic", annotator="ann")) == [1]
    assert store.search("world") == [1]
    assert store.search("Goodbye") == [2]  # found through the translation
    assert store.search("By") == [2]  # shorter than a trigram: scanned
    assert store.search('"quoted" OR x') == []  # FTS syntax is treated as text


def test_migration_from_older_schema_keeps_data(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before=SCHEMA_STEPS[1])  # a database from before step 2
    db["speeches"].insert({"content_hash": "h" * 64, "text": "Old speech here.", "imported_at": "2020"})
    db["segments"].insert({"uid": "h:0", "speech_id": 1, "position": 0, "start": 0, "end": 16,
                           "text": "Old speech here.", "language": "en"})
    db.close()
    store = Store.open(path)
    assert applied_steps(store.db) == SCHEMA_STEPS
    assert store.search("speech") == [1]  # the new full-text index covers the old rows
    assert store.counts()["segments"] == 1


def test_killed_process_loses_nothing_that_was_saved(tmp_path):
    """kill -9 in the middle of a stream of decisions: every committed decision survives."""
    path = tmp_path / "kill.db"
    store = Store.open(path)
    add_demo_speech(store)
    store.close()
    script = textwrap.dedent(f"""
        import sys
        from annotator.store import Store, AnnotationState
        s = Store.open({str(path)!r})
        i = 0
        while True:
            s.decide(1 + i % 2, "ann", AnnotationState(("Economic",), (), "corrected"))
            i += 1
            if i == 200:
                print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store.open(path)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n = len(store.history())
    assert n >= 200
    assert store.annotation(1, "ann").state.frames == ("Economic",)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("hello")
    with pytest.raises(AnnotatorError, match="not an SQLite database"):
        Store.open(bad)


def test_a_session_records_its_label_scheme(store):
    from annotator.schemes import get_scheme
    from annotator.services.session import Session

    scheme = get_scheme("framing")
    Session(store, "ann", scheme)
    row = store.db.execute("SELECT name, hash, toml FROM schemes").fetchone()
    assert row[0] == "framing" and row[1] == scheme.hash and "Economic" in row[2]


def test_search_words_accents_prefixes_and_chinese_substrings(store):
    de = "Frau Präsidentin! Die Sitzung ist eröffnet."
    zh = "我们要建设网络强国。"
    store.add_speech({"content_hash": "d" * 64, "text": de, "language": "de"},
                     [{"start": 0, "end": 17, "text": de[:17]}, {"start": 18, "end": len(de), "text": de[18:]}])
    store.add_speech({"content_hash": "e" * 64, "text": zh, "language": "zh"},
                     [{"start": 0, "end": len(zh), "text": zh}])
    assert store.search("prasidentin") == [1]  # accents ignored
    assert store.search("Sitzung ist eroff") == [2]  # every word, the last as a prefix
    assert store.search("ist Sitzung") == [2]  # in any order
    assert store.search("Sitzung eroff") == [2]  # with words left out between them
    assert store.search("Sitzung geschlossen") == []  # but every word
    assert store.search("网络强") == [3]  # substring inside a run of Chinese (trigram index)
    assert store.search("强国") == [3]  # two characters: scanned
    assert store.search("!") == [1]  # punctuation only: no word to match, scanned


def test_search_matches_every_word_in_any_order_and_ranks_by_relevance(store):
    """"seance lev" finds "La séance est levée." (it once needed the words in a row), and the
    segments where the words weigh most come first, whatever their order in the corpus."""
    texts = ["Monsieur le président, la parole est à M. Dupont.",
             "La séance est levée.",
             "Nous reprenons la séance après une suspension de la séance pour parler du budget de la nation.",
             "La séance est levée à midi; la séance reprendra demain."]
    text = " ".join(texts)
    segments, pos = [], 0
    for t in texts:
        segments.append({"start": pos, "end": pos + len(t), "text": t})
        pos += len(t) + 1
    store.add_speech({"content_hash": "f" * 64, "text": text, "language": "fr"}, segments)
    store.add_translation(1, "en", "Mr President, the sitting is closed (seance levee) says the note.", "model", "mt")
    assert store.search("seance est lev") == [2, 4]  # the translation of 1 has no "est"
    assert store.search("seance lev") == [2, 4, 1]  # the words need not be next to each other
    assert store.search("levee seanc") == [2, 4, 1]  # nor in order
    assert store.search("lev seance") == []  # only the last word is a prefix
    assert store.search("seance") == [4, 2, 3, 1]  # twice in a short segment, once in a short one, twice in a long one
    assert store.search("seance lev")[-1] == 1  # a hit in a translation after the originals
    assert store.segment_ids(SegmentFilter(query="seance lev")) == [2, 4, 1]  # the list keeps that order
    assert store.search("seance budget") == [3]
    assert store.search("seance — lev") == [2, 4, 1]  # a word without letters is no word
    assert store.search('seance "est" lev*') == [2, 4]  # FTS syntax is text
    assert store.search('seance OR lev') == []  # OR is a word to find, not an operator


def store_before(path, step: str) -> tuple[Store, Database]:
    """A project database as an older version left it: the schema steps before ``step``, one speech."""
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before=step)
    old = Store(db, path)
    add_demo_speech(old)
    return old, db


def test_migration_builds_the_undo_stacks_from_an_older_history(tmp_path):
    path = tmp_path / "old.db"
    old, db = store_before(path, "m005_undo_stack")
    # an older version's history, written as it wrote it: decide, decide, undo the second
    for uid, seg, action, ref, state in (("u1", 1, "decide", None, '{"frames": ["Economic"], "spans": [], "status": "corrected"}'),
                                         ("u2", 2, "decide", None, '{"frames": [], "spans": [], "status": "rejected"}'),
                                         ("u3", 2, "undo", "u2", None)):
        db.execute("INSERT INTO annotation_history (uid, segment_id, annotator, action, ref_uid, state, before, created_at) "
                   "VALUES (?, ?, 'ann', ?, ?, ?, NULL, '2025')", [uid, seg, action, ref, state])
    db.execute("INSERT INTO annotations (segment_id, annotator, frames, status, created_at, updated_at) "
               "VALUES (1, 'ann', '[\"Economic\"]', 'corrected', '2025', '2025')")
    db.conn.commit()
    db.close()
    store = Store.open(path)
    assert store.redo("ann") == 2  # the undone rejection can be redone
    assert store.annotation(2, "ann").state.status == "rejected"
    assert store.undo("ann") == 2
    assert store.undo("ann") == 1
    assert store.annotation(1, "ann") is None
    assert store.undo("ann") is None


def test_migration_leaves_decisions_an_older_merge_copied_in_off_the_undo_stack(tmp_path):
    """Before the stack existed, merged decisions sat at the end of the history: rebuilding
    the stack must not take them for ours (undo would revert the colleague's decision)."""
    path = tmp_path / "old.db"
    old, db = store_before(path, "m005_undo_stack")
    ours = '{"frames": ["Economic"], "spans": [], "status": "corrected"}'
    theirs_before = '{"frames": ["Morality"], "spans": [], "status": "corrected"}'
    theirs = '{"frames": ["Political"], "spans": [], "status": "corrected"}'
    for uid, seg, state, before in (("u1", 2, ours, None),  # ours, on segment 2
                                    ("t1", 1, theirs_before, None),  # a colleague's chain on segment 1,
                                    ("t2", 1, theirs, theirs_before)):  # copied in by a merge
        db.execute("INSERT INTO annotation_history (uid, segment_id, annotator, action, ref_uid, state, before, "
                   "created_at) VALUES (?, ?, 'ann', 'decide', NULL, ?, ?, '2025')", [uid, seg, state, before])
    db.execute("INSERT INTO annotation_history (uid, segment_id, annotator, action, ref_uid, state, before, "
               "created_at) VALUES ('t0', 2, 'ann', 'decide', NULL, ?, ?, '2025')", [theirs, theirs_before])
    for seg, frames in ((1, '["Political"]'), (2, '["Economic"]')):
        db.execute("INSERT INTO annotations (segment_id, annotator, frames, status, created_at, updated_at) "
                   "VALUES (?, 'ann', ?, 'corrected', '2025', '2025')", [seg, frames])
    db.conn.commit()
    db.close()
    store = Store.open(path)
    stack = [r[0] for r in store.db.execute("SELECT history_uid FROM undo_stack ORDER BY position")]
    # t0 was made on a state this project never had on segment 2 (ours was u1): not ours to undo;
    # the chain t1, t2 continues from nothing on segment 1, as a decision of this name would
    assert stack == ["u1", "t1", "t2"]
    assert store.undo("ann") == 1 and store.annotation(1, "ann").state.frames == ("Morality",)
    assert store.annotation(2, "ann").state.frames == ("Economic",)


def test_search_never_stops_short_of_what_it_finds(tmp_path):
    """A search filter lists every hit (it once stopped at 5,000, without a word)."""
    store = Store.open(tmp_path / "many.db")
    n = 6_000
    for lang, sentence in (("en", "We will cut taxes in district {i}."), ("zh", "网络强国第{i}章。")):
        texts = [sentence.format(i=i) for i in range(n)]
        sep = " " if lang == "en" else ""
        text = sep.join(texts)
        segments, pos = [], 0
        for t in texts:
            segments.append({"start": pos, "end": pos + len(t), "text": t})
            pos += len(t) + len(sep)
        store.add_speech({"content_hash": lang * 32, "text": text, "language": lang}, segments)
    for query in ("cut taxes", "网络强国", "强国"):  # words, a trigram phrase, a two-character scan
        ids = store.segment_ids(SegmentFilter(query=query))
        assert len(ids) == n, query
        assert len(set(ids)) == n
    assert len(store.segment_ids(SegmentFilter(query="cut taxes", language="zh"))) == 0
    assert len(store.search("cut taxes", limit=10)) == 10
    store.close()


def test_migration_to_sqlite_utils_search_triggers_keeps_translations_searchable(tmp_path):
    """A database of the previous schema (steps 1 to 5) with speeches and translations: after
    step 6 the search finds old and new rows, and the index follows inserts, updates, deletes."""
    path = tmp_path / "previous.db"
    old, db = store_before(path, "m006_translation_search_triggers_by_sqlite_utils")
    zh = "我们要建设网络强国。"
    old.add_speech({"content_hash": "z" * 64, "text": zh, "language": "zh"},
                   [{"start": 0, "end": len(zh), "text": zh}])
    for row in ((1, "en", "Bonjour à tout le monde", "corpus", ""), (2, "en", "Auf Wiedersehen", "model", "m1"),
                (3, "en", "We will build a strong cyber nation", "human", "")):  # as that version wrote them
        db.execute("INSERT INTO translations (segment_id, target_lang, text, provenance, model, created_at) "
                   "VALUES (?, ?, ?, ?, ?, '2024-01-01')", row)
    triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'translations'")}
    assert triggers == {"translations_fts_ai", "translations_fts_ad", "translations_fts_au"}  # step 4's, by hand
    db.close()

    store = Store.open(path)
    assert applied_steps(store.db) == SCHEMA_STEPS
    triggers = {r[0] for r in store.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'translations'")}
    assert triggers == {"translations_ai", "translations_ad", "translations_au"}  # sqlite-utils'
    assert store.db["translations"].detect_fts() == "translations_fts"
    # the old rows are found: translations (accents ignored, prefixes), segments, Chinese substrings
    assert store.search("bonjour a tout") == [1]
    assert store.search("wiederseh") == [2]
    assert store.search("cyber nation") == [3]
    assert store.search("Hello world") == [1]
    assert store.search("网络强") == [3]
    # insert, update, delete: the index follows
    store.add_translation(2, "de", "Tschüss und bis bald", "human")
    assert store.search("tschuss") == [2]
    store.add_translation(1, "en", "Good morning everybody", "corpus")  # the same key: an update
    assert store.search("bonjour") == []
    assert store.search("everybody") == [1]
    with store.write():
        store.db.execute("DELETE FROM translations WHERE target_lang = 'de'")
    assert store.search("tschuss") == []
    assert store.search("wiederseh") == [2]
    # new speeches are found as before
    store.add_speech({"content_hash": "n" * 64, "text": "Taxes will fall.", "language": "en"},
                     [{"start": 0, "end": 16, "text": "Taxes will fall."}])
    assert store.search("taxes") == [4]
    # deleting a speech takes its segments and their translations out of every index
    with store.write():
        store.db.execute("DELETE FROM speeches WHERE id = 1")
    assert store.search("everybody") == [] and store.search("Hello") == [] and store.search("wiederseh") == []
    assert store.search("cyber") == [3]
    # the word indexes agree with their rows (the CJK one holds only some rows: checked on its own)
    for fts, against_rows in (("translations_fts", 1), ("segments_fts", 1), ("segments_cjk_fts", 0)):
        store.db.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', {against_rows})")
    # and the migrated schema is the one a new project gets
    fresh = Store.in_memory()
    schema = "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    assert store.db.execute(schema).fetchall() == fresh.db.execute(schema).fetchall()
    store.close()


def test_a_failed_commit_is_rolled_back_and_later_writes_still_commit(tmp_path):
    """A COMMIT that fails (here a deferred constraint; disk full or an I/O error alike) must
    not leave the transaction open: later decisions would join it and never be saved."""
    path = tmp_path / "p.db"
    store = Store.open(path)
    add_demo_speech(store)
    store.db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    store.db.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        with store.write():
            store.db.execute("INSERT INTO child VALUES (42)")  # fails only at COMMIT
    assert not store.db.conn.in_transaction
    store.decide(1, "ann", AnnotationState(("Economic",), (), "corrected"))
    other = Store.open(path)
    assert other.annotation(1, "ann").state.frames == ("Economic",)  # committed, seen from outside
    other.close()
    store.close()


def test_a_chinese_phrase_is_found_in_english_segments_and_translations_too(store):
    zh, en = "我们要建设网络强国。", "The slogan 网络强国 means cyber power."
    ids = []
    for text, lang, h in ((zh, "zh", "z"), (en, "en", "e")):
        speech = store.add_speech({"content_hash": h * 64, "text": text, "language": lang},
                                  [{"start": 0, "end": len(text), "text": text}])
        ids.append(store.segments_of_speech(speech)[0].id)
    add_demo_speech(store)
    store.add_translation(ids[-1] + 1, "en", "Hello 网络强国 world.", "human")
    # the Chinese segment (trigrams), the English one and a translation (a scan): every hit
    assert store.search("网络强国") == sorted([*ids, ids[-1] + 1])


def test_the_store_remembers_every_version_that_was_active_also_from_before_it_kept_count(tmp_path):
    """The report shows the versions a project used, not those trained and left aside: an older
    database gets the ones it is known to have used (active, or with suggestions stored)."""
    path = tmp_path / "old.db"
    old, db = store_before(path, "m011_model_activations")
    for version in ("used-1", "used-2", "aside"):
        old.register_model(version, "frames", f"/models/{version}", {})
    db.execute("INSERT INTO active_models (kind, version) VALUES ('frames', 'used-2')")
    db.execute("INSERT INTO suggestion_runs (segment_id, model_version, created_at) VALUES (1, 'used-1', '2025')")
    db.conn.commit()
    db.close()
    store = Store.open(path)
    assert set(store.ever_active_versions()) == {"used-1", "used-2"}
    store.register_model("new", "frames", "/models/new", {})
    store.set_active_model("frames", "new")
    store.set_active_model("frames", "new")  # again: still once
    assert set(store.ever_active_versions()) == {"used-1", "used-2", "new"}
    assert store.db.execute("SELECT COUNT(*) FROM model_activations WHERE version = 'new'").fetchone()[0] == 1


def test_a_chunk_of_runs_written_at_once_replaces_each_segments_earlier_run_all_or_nothing(store):
    """What `suggest` writes per chunk (one statement per table): each segment's earlier run of
    the version gives way, other versions keep theirs, and a chunk that cannot be written
    leaves everything as it was."""
    from annotator.store import Suggestion

    add_demo_speech(store)
    store.replace_suggestions(1, "v", [Suggestion(1, "v", "frame", "Morality", 0.9)], uncertainty=0.5,
                              info={"top": [["Morality", 0.9]]})
    store.replace_suggestions(1, "w", [Suggestion(1, "w", "frame", "Economic", 0.8)])
    store.replace_runs("v", [(1, 0.25, '{"top": [["Economic", 0.7]]}'), (2, 0.0, "{}")],
                       [(1, "frame", "Economic", None, None, 0.7, "{}"), (2, "span", "Slogan", 0, 3, 0.9, "{}")])
    assert store.suggestions(1, ["v"]) == [Suggestion(1, "v", "frame", "Economic", 0.7)]
    assert store.suggestions(2, ["v"]) == [Suggestion(2, "v", "span", "Slogan", 0.9, 0, 3)]
    assert store.suggestions(1, ["w"]) == [Suggestion(1, "w", "frame", "Economic", 0.8)]
    assert store.run_info(1, "v") == {"top": [["Economic", 0.7]]} and store.uncertainties("v") == {1: 0.25, 2: 0.0}
    with pytest.raises(sqlite3.IntegrityError):  # segment 99 does not exist: nothing of the chunk is kept
        store.replace_runs("v", [(2, 0.1, "{}"), (99, 0.1, "{}")], [(2, "frame", "Political", None, None, 0.6, "{}")])
    assert store.suggestions(2, ["v"]) == [Suggestion(2, "v", "span", "Slogan", 0.9, 0, 3)]
    assert store.uncertainties("v") == {1: 0.25, 2: 0.0}


def test_vectors_stored_before_the_embeddings_table_was_rebuilt_are_kept_and_found(tmp_path):
    import numpy as np

    path = tmp_path / "old.db"
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before="m016_text_embeddings_in_arrival_order")
    vectors = {f"{i:040x}": np.full(4, i, np.float16) for i in range(3)}
    db.conn.executemany("INSERT INTO text_embeddings (encoder, text_key, vector) VALUES ('e', ?, ?)",
                        [(k, v.tobytes()) for k, v in vectors.items()])
    db.conn.commit()
    db.close()
    store = Store.open(path)
    assert applied_steps(store.db) == SCHEMA_STEPS
    cache = store.embedding_cache("e")
    assert {k: v.tolist() for k, v in cache.get(list(vectors)).items()} == {k: v.tolist() for k, v in vectors.items()}
    cache.put({f"{1:040x}": np.full(4, 7, np.float16)})  # stored again: replaced, not doubled
    assert store.embedding_counts() == {"e": 3} and cache.get([f"{1:040x}"])[f"{1:040x}"].tolist() == [7.0] * 4


def test_one_registered_version_is_looked_up_by_its_name(store):
    """``registered_model``: the very entry ``registered_models`` lists (meta read back), and
    None for a name the project never registered."""
    store.register_model("frames-a", "frames", "/models/frames/frames-a", {"scheme": "appeals", "labels": ["X"]})
    store.register_model("spans-b", "spans", "/models/spans/spans-b", {})
    listed = {m["version"]: m for m in store.registered_models()}
    assert store.registered_model("frames-a") == listed["frames-a"]
    assert store.registered_model("frames-a")["meta"] == {"scheme": "appeals", "labels": ["X"]}
    assert store.registered_model("spans-b")["kind"] == "spans"
    assert store.registered_model("frames-c") is None
    assert store.registered_model(None) is None

"""Frames for whole speeches in the store: decisions saved in one transaction with history and
undo like the segments', suggestions per model version, gold by the same rules, and the schema
step that adds them to a database of the previous version."""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database

from annotator.errors import AnnotatorError
from annotator.store import AnnotationState, SpanLabel, Store
from annotator.store.db import applied_steps, configure
from annotator.store.gold import speech_gold_labels
from annotator.store.schema import SCHEMA_STEPS, migrations
from test_store import add_demo_speech

ECONOMIC = AnnotationState(("Economic",), (), "corrected")


def test_a_speech_decision_is_saved_with_its_history(store):
    speech = add_demo_speech(store)
    store.decide_speech(speech, "ann", ECONOMIC)
    assert store.speech_annotation(speech, "ann").state == ECONOMIC
    assert [h["action"] for h in store.speech_history(speech)] == ["decide"]
    assert store.annotation(1, "ann") is None and store.history() == []  # segments untouched
    with pytest.raises(sqlite3.DatabaseError):
        store.db.execute("UPDATE speech_annotation_history SET annotator = 'x'")  # append-only


def test_speech_undo_and_redo_follow_the_annotators_own_chain(store):
    first, second = add_demo_speech(store), add_demo_speech(store, "Another one. Yes.", "b" * 64)
    store.decide(1, "ann", ECONOMIC)  # a segment decision: not on the speeches' stack
    store.decide_speech(first, "ann", ECONOMIC)
    store.decide_speech(second, "ann", AnnotationState((), (), "rejected"))
    store.decide_speech(first, "bob", AnnotationState(("Morality",), (), "corrected"))
    assert store.undo_speech("ann") == second and store.speech_annotation(second, "ann") is None
    assert store.undo_speech("ann") == first and store.speech_annotation(first, "ann") is None
    assert store.undo_speech("ann") is None
    assert store.speech_annotation(first, "bob").state.frames == ("Morality",)
    assert store.annotation(1, "ann").state == ECONOMIC
    assert store.redo_speech("ann") == first and store.speech_annotation(first, "ann").state == ECONOMIC
    store.decide_speech(first, "ann", AnnotationState(("Political",), (), "corrected"))
    assert store.redo_speech("ann") is None  # a new decision clears what could be redone
    assert store.undo("ann") == 1  # and the segments' own stack is as it was


def test_a_speech_decision_has_no_spans_and_a_known_status(store):
    speech = add_demo_speech(store)
    with pytest.raises(AnnotatorError, match="not spans"):
        store.decide_speech(speech, "ann", AnnotationState((), (SpanLabel(0, 5),), "corrected"))
    with pytest.raises(AnnotatorError, match="status"):
        store.decide_speech(speech, "ann", AnnotationState((), (), "maybe"))
    assert store.speech_history() == []


def test_a_failed_transaction_leaves_no_speech_decision(store):
    speech = add_demo_speech(store)
    with pytest.raises(RuntimeError):
        with store.write():
            store.decide_speech(speech, "ann", ECONOMIC)
            raise RuntimeError("crash in the middle")
    assert store.speech_annotation(speech, "ann") is None and store.speech_history() == []


def test_speech_scores_per_version_replace_the_earlier_ones(store):
    speech = add_demo_speech(store)
    add_demo_speech(store, "Another one. Yes.", "b" * 64)
    store.replace_speech_scores(speech, "v1", {"Economic": (0.8, 0.5), "Morality": (0.2, 0.4)})
    store.replace_speech_scores(speech, "v1", {"Economic": (0.3, 0.5), "Political": (0.7, 0.6)})
    scores = store.speech_scores(speech, "v1")
    assert [(s.label, s.score, s.threshold, s.suggested) for s in scores] == [
        ("Political", 0.7, 0.6, True), ("Economic", 0.3, 0.5, False)]
    assert store.speeches_without_scores("v1") == [2] and store.speech_score_counts() == {"v1": 1}


def test_speech_gold_follows_the_segment_rules(store):
    one, two = add_demo_speech(store), add_demo_speech(store, "Another one. Yes.", "b" * 64)
    store.decide_speech(one, "ann", AnnotationState(("Economic", "Morality"), (), "accepted"))
    store.decide_speech(one, "bob", AnnotationState(("Economic",), (), "accepted"))
    store.decide_speech(two, "ann", AnnotationState(("Political",), (), "accepted"))
    store.decide_speech(two, "adjudicator:zoe", AnnotationState((), (), "rejected"))
    gold = {g.speech_id: g for g in speech_gold_labels(store)}
    assert gold[one].frames == ["Economic"] and gold[one].tie and gold[one].ties == ["frame Morality"]
    assert gold[one].speech_key == "a" * 16 and gold[one].source == "majority"
    assert gold[two].frames == [] and gold[two].source == "adjudicated"
    assert [g.speech_id for g in speech_gold_labels(store, annotators=["ann"])] == [one, two]


def test_the_speech_frames_step_brings_a_previous_database_forward(tmp_path):
    """A database of the previous schema (up to step 9) with decisions: the new step adds the
    speech tables, keeps everything, and the result is the schema a new project gets."""
    path = tmp_path / "previous.db"
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before="m010_speech_frames")
    old = Store(db, path)
    speech = add_demo_speech(old)
    old.decide(1, "ann", ECONOMIC)
    assert "speech_annotations" not in db.table_names()
    db.close()

    store = Store.open(path)
    assert applied_steps(store.db) == SCHEMA_STEPS and "m010_speech_frames" in SCHEMA_STEPS
    assert store.annotation(1, "ann").state == ECONOMIC and store.undo("ann") == 1  # old decisions kept
    store.decide_speech(speech, "ann", ECONOMIC)
    assert store.speech_annotation(speech, "ann").state == ECONOMIC
    fresh = Store.in_memory()
    schema = "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    assert store.db.execute(schema).fetchall() == fresh.db.execute(schema).fetchall()
    # deleting a speech takes its decisions, history, stack entries and scores with it
    store.replace_speech_scores(speech, "v1", {"Economic": (0.8, 0.5)})
    with store.write():
        store.db.execute("DELETE FROM speeches WHERE id = ?", [speech])
    for table in ("speech_annotations", "speech_annotation_history", "speech_undo_stack", "speech_suggestions"):
        assert store.db[table].count == 0, table
    store.close()

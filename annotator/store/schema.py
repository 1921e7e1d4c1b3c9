"""The database schema and its forward migrations.

Migrations run through sqlite-utils' ``Migrations`` (each step in a transaction, recorded in
``_sqlite_migrations``). Never edit a released step: add a new one, so that a database made by
an older version of the tool is brought forward on open without losing anything.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlite_utils import Database, Migrations

migrations = Migrations("annotator")

ANNOTATION_STATUSES = ("accepted", "corrected", "rejected", "skipped")
TRANSLATION_PROVENANCES = ("human", "corpus", "memory", "model", "gloss")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE speeches (
            id INTEGER PRIMARY KEY,
            content_hash TEXT NOT NULL UNIQUE,
            external_id TEXT,
            title TEXT,
            speaker TEXT,
            date TEXT,
            venue TEXT,
            language TEXT,
            source TEXT,
            licence TEXT,
            text TEXT NOT NULL,
            imported_at TEXT NOT NULL
        );
        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            speech_id INTEGER NOT NULL REFERENCES speeches(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            text TEXT NOT NULL,
            language TEXT,
            UNIQUE (speech_id, position)
        );
        CREATE INDEX segments_language ON segments(language);
        CREATE TABLE translations (
            id INTEGER PRIMARY KEY,
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            target_lang TEXT NOT NULL,
            text TEXT NOT NULL,
            provenance TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE (segment_id, target_lang, provenance, model)
        );
        CREATE TABLE suggestions (
            id INTEGER PRIMARY KEY,
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            model_version TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('frame', 'span')),
            label TEXT NOT NULL,
            start INTEGER,
            "end" INTEGER,
            score REAL NOT NULL,
            extra TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE INDEX suggestions_segment ON suggestions(segment_id, model_version);
        CREATE INDEX suggestions_version ON suggestions(model_version, kind);
        CREATE TABLE suggestion_runs (
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            model_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (segment_id, model_version)
        );
        CREATE TABLE annotations (
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            frames TEXT NOT NULL DEFAULT '[]',
            spans TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL CHECK (status IN ('accepted', 'corrected', 'rejected', 'skipped')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (segment_id, annotator)
        );
        CREATE INDEX annotations_annotator ON annotations(annotator, status);
        CREATE TABLE annotation_history (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('decide', 'undo', 'redo', 'merge')),
            ref_uid TEXT,
            state TEXT,
            before TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX history_annotator ON annotation_history(annotator, id);
        CREATE INDEX history_segment ON annotation_history(segment_id);
        CREATE TRIGGER annotation_history_append_only_update BEFORE UPDATE ON annotation_history
            BEGIN SELECT RAISE(ABORT, 'annotation_history is append-only'); END;
        CREATE TRIGGER annotation_history_append_only_delete BEFORE DELETE ON annotation_history
            WHEN (SELECT COUNT(*) FROM segments WHERE id = OLD.segment_id) > 0
            BEGIN SELECT RAISE(ABORT, 'annotation_history is append-only'); END;
        CREATE TABLE schemes (
            name TEXT PRIMARY KEY,
            hash TEXT NOT NULL,
            source TEXT NOT NULL,
            toml TEXT NOT NULL,
            registered_at TEXT NOT NULL
        );
        CREATE TABLE models (
            version TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            path TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            registered_at TEXT NOT NULL
        );
        CREATE TABLE active_models (
            kind TEXT PRIMARY KEY,
            version TEXT NOT NULL REFERENCES models(version)
        );
        CREATE TABLE glossary (
            id INTEGER PRIMARY KEY,
            source_text TEXT NOT NULL,
            language TEXT NOT NULL,
            rendering TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            UNIQUE (source_text, language)
        );
        """
    )


@migrations()
def m002_search_and_assignments(db: Database) -> None:
    """Full-text search over segments and translations; work queues per annotator."""
    db.executescript(
        """
        CREATE VIRTUAL TABLE segments_fts USING fts5(
            text, content='segments', content_rowid='id', tokenize='trigram'
        );
        INSERT INTO segments_fts(rowid, text) SELECT id, text FROM segments;
        CREATE TRIGGER segments_fts_ai AFTER INSERT ON segments BEGIN
            INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER segments_fts_ad AFTER DELETE ON segments BEGIN
            INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE VIRTUAL TABLE translations_fts USING fts5(
            text, content='translations', content_rowid='id', tokenize='trigram'
        );
        INSERT INTO translations_fts(rowid, text) SELECT id, text FROM translations;
        CREATE TRIGGER translations_fts_ai AFTER INSERT ON translations BEGIN
            INSERT INTO translations_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER translations_fts_ad AFTER DELETE ON translations BEGIN
            INSERT INTO translations_fts(translations_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER translations_fts_au AFTER UPDATE ON translations BEGIN
            INSERT INTO translations_fts(translations_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO translations_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TABLE assignments (
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (segment_id, annotator)
        );
        CREATE INDEX assignments_annotator ON assignments(annotator);
        """
    )


@migrations()
def m003_suggestion_uncertainty(db: Database) -> None:
    """How sure each model run was (entropy over all frame scores, top scores), for
    low-confidence-first ordering and the UI's margin display."""
    db.executescript(
        """
        ALTER TABLE suggestion_runs ADD COLUMN uncertainty REAL;
        ALTER TABLE suggestion_runs ADD COLUMN info TEXT NOT NULL DEFAULT '{}';
        CREATE INDEX suggestion_runs_uncertainty ON suggestion_runs(model_version, uncertainty);
        """
    )


# Which segments also get the trigram (substring) index: scripts written without spaces.
CJK_LANGUAGES = ("zh", "ja", "ko")


@migrations()
def m004_word_search_with_cjk_substrings(db: Database) -> None:
    """Word search for spaced scripts, substring search for Chinese, Japanese and Korean.

    The trigram index of step 2 indexed every segment for substring search: four times the
    work of a word index, and most of an import's time on a big corpus. Linguists search
    European text by words (diacritics-insensitive here, prefixes with a trailing *), while
    text without spaces needs substrings. So: a word index over every segment and translation,
    and a trigram index over CJK segments only.
    """
    db.executescript(
        f"""
        DROP TRIGGER IF EXISTS segments_fts_ai;
        DROP TRIGGER IF EXISTS segments_fts_ad;
        DROP TABLE IF EXISTS segments_fts;
        DROP TRIGGER IF EXISTS translations_fts_ai;
        DROP TRIGGER IF EXISTS translations_fts_ad;
        DROP TRIGGER IF EXISTS translations_fts_au;
        DROP TABLE IF EXISTS translations_fts;

        CREATE VIRTUAL TABLE segments_fts USING fts5(
            text, content='segments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        );
        INSERT INTO segments_fts(rowid, text) SELECT id, text FROM segments;
        CREATE TRIGGER segments_fts_ai AFTER INSERT ON segments BEGIN
            INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER segments_fts_ad AFTER DELETE ON segments BEGIN
            INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;

        CREATE VIRTUAL TABLE segments_cjk_fts USING fts5(
            text, content='segments', content_rowid='id', tokenize='trigram'
        );
        INSERT INTO segments_cjk_fts(rowid, text)
            SELECT id, text FROM segments WHERE language IN {CJK_LANGUAGES};
        CREATE TRIGGER segments_cjk_fts_ai AFTER INSERT ON segments WHEN new.language IN {CJK_LANGUAGES} BEGIN
            INSERT INTO segments_cjk_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER segments_cjk_fts_ad AFTER DELETE ON segments WHEN old.language IN {CJK_LANGUAGES} BEGIN
            INSERT INTO segments_cjk_fts(segments_cjk_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;

        CREATE VIRTUAL TABLE translations_fts USING fts5(
            text, content='translations', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        );
        INSERT INTO translations_fts(rowid, text) SELECT id, text FROM translations;
        CREATE TRIGGER translations_fts_ai AFTER INSERT ON translations BEGIN
            INSERT INTO translations_fts(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER translations_fts_ad AFTER DELETE ON translations BEGIN
            INSERT INTO translations_fts(translations_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER translations_fts_au AFTER UPDATE ON translations BEGIN
            INSERT INTO translations_fts(translations_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO translations_fts(rowid, text) VALUES (new.id, new.text);
        END;
        """
    )


@migrations()
def m005_undo_stack(db: Database) -> None:
    """Each annotator's undo and redo stacks as a table, so that undo costs the same at any
    history size and follows only the decisions made in this project (never those a merge
    brought in). Built once from the history as the earlier versions replayed it."""
    db.executescript(
        """
        CREATE TABLE undo_stack (
            annotator TEXT NOT NULL,
            position INTEGER NOT NULL,
            history_uid TEXT NOT NULL REFERENCES annotation_history(uid) ON DELETE CASCADE,
            undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
            PRIMARY KEY (annotator, position)
        );
        CREATE INDEX undo_stack_top ON undo_stack(annotator, undone, position);
        CREATE TABLE merge_conflicts (
            uid TEXT PRIMARY KEY,
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            ours TEXT NOT NULL,
            theirs TEXT NOT NULL,
            kept TEXT NOT NULL CHECK (kept IN ('ours', 'theirs')),
            source TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )
    rows = db.execute("SELECT uid, annotator, segment_id, action, ref_uid, state, before FROM annotation_history "
                      "ORDER BY id").fetchall()
    stacks: dict[str, tuple[list[str], list[str]]] = {}
    # (annotator, segment) -> the state this project's own history left (merges included)
    replayed: dict[tuple[str, int], str | None] = {}
    for uid, annotator, segment, action, ref, state, before in rows:
        undo, redo = stacks.setdefault(annotator, ([], []))
        key = (annotator, segment)
        if action == "decide":
            # A decision a merge copied in was made on the colleague's state, not on ours: it
            # does not follow from what this project's history left, and is not ours to undo.
            if before != replayed.get(key):
                continue
            undo.append(uid)
            redo.clear()
            replayed[key] = state
        elif action == "undo" and ref in undo:
            undo.remove(ref)
            redo.append(ref)
            replayed[key] = state
        elif action == "redo" and ref in redo:
            redo.remove(ref)
            undo.append(ref)
            replayed[key] = state
        elif action == "merge":
            replayed[key] = state  # our merge switched the segment to the colleague's decision
    for annotator, (undo, redo) in stacks.items():
        # undone entries sit above the others, the next one to redo lowest among them
        entries = [(uid, 0) for uid in undo] + [(uid, 1) for uid in reversed(redo)]
        db.conn.executemany(
            "INSERT INTO undo_stack (annotator, position, history_uid, undone) VALUES (?, ?, ?, ?)",
            [(annotator, i, uid, undone) for i, (uid, undone) in enumerate(entries, start=1)])


@migrations()
def m006_translation_search_triggers_by_sqlite_utils(db: Database) -> None:
    """The translations' word index, kept in step by sqlite-utils' triggers.

    Step 4 wrote the index and its three triggers by hand; sqlite-utils' ``enable_fts(...,
    create_triggers=True)`` makes the same (an FTS5 table over ``translations.text`` with the
    same tokenizer, ``translations_fts``, and an insert, a delete and an update trigger, now
    named ``translations_ai``, ``_ad``, ``_au``). The hand-written ones are dropped and the
    index is filled again from the rows, so every translation stays searchable.

    The segments' two indexes keep step 4's triggers:

    * ``segments_cjk_fts`` (trigrams) covers only Chinese, Japanese and Korean segments:
      sqlite-utils can neither make a trigger with a ``WHEN`` condition nor a second full-text
      table for a table (its index is always ``<table>_fts``).
    * ``segments_fts`` (words): moved to sqlite-utils' triggers by step 8.
    """
    for name in ("translations_fts_ai", "translations_fts_ad", "translations_fts_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db["translations_fts"].drop(ignore=True)
    db["translations"].enable_fts(["text"], tokenize="unicode61 remove_diacritics 2", create_triggers=True)


@migrations()
def m007_split_sides(db: Database) -> None:
    """Which side of the train/dev/test split each speech is on, fixed the first time the
    speech is used (see ``annotator.splits``): export, training and evaluation all read it,
    and a speech never moves as the project labels more. Keyed by the speech's content hash,
    so it holds across merged projects."""
    db.execute(
        "CREATE TABLE split_sides (speech_hash TEXT PRIMARY KEY, side TEXT NOT NULL "
        "CHECK (side IN ('train', 'dev', 'test')), assigned_at TEXT NOT NULL)")


@migrations()
def m008_segment_search_triggers_by_sqlite_utils(db: Database) -> None:
    """The segments' word index kept in step by sqlite-utils' triggers, as step 6 did for the
    translations: step 4's hand-written ``segments_fts_ai``/``_ad`` are dropped and
    ``enable_fts(..., create_triggers=True)`` makes the index again (same tokenizer) from the
    rows, with ``segments_ai``, ``_ad`` and ``_au``. (An update of a segment's text now reaches
    the index too.) The CJK trigram index keeps step 4's conditional triggers (see step 6)."""
    for name in ("segments_fts_ai", "segments_fts_ad"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db["segments_fts"].drop(ignore=True)
    db["segments"].enable_fts(["text"], tokenize="unicode61 remove_diacritics 2", create_triggers=True)


@migrations()
def m009_text_embeddings(db: Database) -> None:
    """Base-encoder sentence embeddings, once per text and encoder (float16, 768 bytes for a
    384-wide encoder): the quick frames models retrain and suggest without the encoder."""
    db.execute(
        "CREATE TABLE text_embeddings (encoder TEXT NOT NULL, text_key TEXT NOT NULL, vector BLOB NOT NULL, "
        "PRIMARY KEY (encoder, text_key)) WITHOUT ROWID")


@migrations()
def m010_speech_frames(db: Database) -> None:
    """Frames for a speech as a whole: each annotator's decision on a speech (frames and a
    status, no spans), with its own append-only history and undo stack, kept exactly as the
    segments' decisions are (``store.decision_log``); and what models suggest for a speech,
    every label's score with the threshold it was judged by, per model version."""
    db.executescript(
        """
        CREATE TABLE speech_annotations (
            speech_id INTEGER NOT NULL REFERENCES speeches(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            frames TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL CHECK (status IN ('accepted', 'corrected', 'rejected', 'skipped')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (speech_id, annotator)
        );
        CREATE INDEX speech_annotations_annotator ON speech_annotations(annotator, status);
        CREATE TABLE speech_annotation_history (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            speech_id INTEGER NOT NULL REFERENCES speeches(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('decide', 'undo', 'redo', 'merge')),
            ref_uid TEXT,
            state TEXT,
            before TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX speech_history_annotator ON speech_annotation_history(annotator, id);
        CREATE INDEX speech_history_speech ON speech_annotation_history(speech_id);
        CREATE TRIGGER speech_annotation_history_append_only_update BEFORE UPDATE ON speech_annotation_history
            BEGIN SELECT RAISE(ABORT, 'speech_annotation_history is append-only'); END;
        CREATE TRIGGER speech_annotation_history_append_only_delete BEFORE DELETE ON speech_annotation_history
            WHEN (SELECT COUNT(*) FROM speeches WHERE id = OLD.speech_id) > 0
            BEGIN SELECT RAISE(ABORT, 'speech_annotation_history is append-only'); END;
        CREATE TABLE speech_undo_stack (
            annotator TEXT NOT NULL,
            position INTEGER NOT NULL,
            history_uid TEXT NOT NULL REFERENCES speech_annotation_history(uid) ON DELETE CASCADE,
            undone INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
            PRIMARY KEY (annotator, position)
        );
        CREATE INDEX speech_undo_stack_top ON speech_undo_stack(annotator, undone, position);
        CREATE TABLE speech_suggestions (
            speech_id INTEGER NOT NULL REFERENCES speeches(id) ON DELETE CASCADE,
            model_version TEXT NOT NULL,
            label TEXT NOT NULL,
            score REAL NOT NULL,
            threshold REAL NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (speech_id, model_version, label)
        );
        CREATE INDEX speech_suggestions_version ON speech_suggestions(model_version, speech_id);
        """
    )


@migrations()
def m011_model_activations(db: Database) -> None:
    """Every time a version became the active one of its kind, so that the report can tell the
    versions the project used from those trained and left aside. A database from before this
    step gets the versions it is known to have used: the active ones, and those whose
    suggestions it stores (only active versions fill suggestions), at their registration time."""
    db.executescript(
        """
        CREATE TABLE model_activations (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            version TEXT NOT NULL,
            activated_at TEXT NOT NULL
        );
        CREATE INDEX model_activations_version ON model_activations(version);
        INSERT INTO model_activations (kind, version, activated_at)
            SELECT m.kind, m.version, m.registered_at FROM models m
            WHERE m.version IN (SELECT version FROM active_models)
               OR EXISTS (SELECT 1 FROM suggestion_runs r WHERE r.model_version = m.version)
               OR EXISTS (SELECT 1 FROM suggestions g WHERE g.model_version = m.version)
               OR EXISTS (SELECT 1 FROM speech_suggestions p WHERE p.model_version = m.version)
            ORDER BY m.registered_at;
        """
    )


@migrations()
def m012_aligned_corpus_translations(db: Database) -> None:
    """Corpus translations aligned sentence by sentence, and translations that no source gave.

    * ``speech_translations``: a corpus's translation of a whole speech (a ParlaMint ``-en``
      utterance), kept so that its sentences can be aligned to the segments again once the
      encoder is there; ``aligned_by`` says how its segments' translations were aligned
      (``position``, or ``encoder:<key>``).
    * ``translations.score`` (the alignment's score, 0..1; NULL where there is none) and
      ``translations.alignment`` (``1-1``, ``2-1``, ``1-2``, or ``position``).
    * ``translation_attempts``: segments that no source could translate, with the sources there
      were (the active translation model version), so that ``suggest`` tries them again only
      once a new source appears.

    The corpus translations already stored were aligned by position: their speech's translation
    is put back together from them, in segment order, so that they can be aligned again.
    """
    db.executescript(
        """
        ALTER TABLE translations ADD COLUMN score REAL;
        ALTER TABLE translations ADD COLUMN alignment TEXT NOT NULL DEFAULT '';
        CREATE TABLE speech_translations (
            speech_id INTEGER NOT NULL REFERENCES speeches(id) ON DELETE CASCADE,
            target_lang TEXT NOT NULL,
            text TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            aligned_by TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            PRIMARY KEY (speech_id, target_lang)
        );
        CREATE TABLE translation_attempts (
            segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
            target_lang TEXT NOT NULL,
            sources TEXT NOT NULL,
            tried_at TEXT NOT NULL,
            PRIMARY KEY (segment_id, target_lang)
        );
        UPDATE translations SET alignment = 'position' WHERE provenance = 'corpus';
        """
    )
    parts: dict[tuple[int, str], list[str]] = {}
    source: dict[tuple[int, str], tuple[str, str]] = {}
    for row in db.query(
            "SELECT g.speech_id, t.target_lang, t.text, t.model, t.created_at FROM translations t "
            "JOIN segments g ON g.id = t.segment_id WHERE t.provenance = 'corpus' ORDER BY g.speech_id, g.position"):
        key = (row["speech_id"], row["target_lang"])
        parts.setdefault(key, []).append(row["text"])
        source[key] = (row["model"], row["created_at"])
    db.conn.executemany(
        "INSERT INTO speech_translations (speech_id, target_lang, text, source, aligned_by, created_at) "
        "VALUES (?, ?, ?, ?, 'position', ?)",
        [(speech, lang, " ".join(texts), *source[speech, lang]) for (speech, lang), texts in parts.items()])


@migrations()
def m013_glossary_variants(db: Database) -> None:
    """Other renderings of a glossary entry (``;``-separated), matched in English text beside
    its official one: "cyber great power" links to 网络强国 as "cyberpower" does."""
    db.execute("ALTER TABLE glossary ADD COLUMN variants TEXT NOT NULL DEFAULT ''")


@migrations()
def m014_prior_annotators(db: Database) -> None:
    """The annotator names whose decisions are pre-annotations (a prior), not a person's: labels
    that came with the corpus or a seed file, or an import marked ``--prior``. A person's usable
    decision on a segment or speech supersedes them (``store.gold``). The seed labels' name,
    ``seed``, is one in every project, those made before this step included."""
    db.execute(
        "CREATE TABLE prior_annotators (annotator TEXT PRIMARY KEY, source TEXT NOT NULL, added_at TEXT NOT NULL)")
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    db.execute("INSERT INTO prior_annotators (annotator, source, added_at) VALUES ('seed', 'seed labels', ?)", [now])


@migrations()
def m015_speech_merge_conflicts(db: Database) -> None:
    """Where a merge met two different current decisions by one annotator on one whole speech,
    kept as step 5 keeps those on segments: each conflict is told once, a second merge of the
    same file does not tell it again."""
    db.execute(
        """
        CREATE TABLE speech_merge_conflicts (
            uid TEXT PRIMARY KEY,
            speech_id INTEGER NOT NULL REFERENCES speeches(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL,
            ours TEXT NOT NULL,
            theirs TEXT NOT NULL,
            kept TEXT NOT NULL CHECK (kept IN ('ours', 'theirs')),
            source TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )


@migrations()
def m016_text_embeddings_in_arrival_order(db: Database) -> None:
    """Sentence embeddings kept in the order they arrive (a rowid table), their keys in an index
    of their own: storing a vector appends its bytes and changes one page of the small index,
    where the table kept in key order (step 9, WITHOUT ROWID) split its full pages at random
    keys. With 2 million vectors stored, `suggest --ray`'s driver wrote about twice as fast
    (bench/README.md); reading by key is as before."""
    db.execute("CREATE TABLE text_embeddings_new (encoder TEXT NOT NULL, text_key TEXT NOT NULL, "
               "vector BLOB NOT NULL, UNIQUE (encoder, text_key))")
    db.execute("INSERT INTO text_embeddings_new (encoder, text_key, vector) "
               "SELECT encoder, text_key, vector FROM text_embeddings")
    db.execute("DROP TABLE text_embeddings")
    db.execute("ALTER TABLE text_embeddings_new RENAME TO text_embeddings")


def schema_steps() -> list[str]:
    """The names of every schema step, in order (all of them pending for an empty database)."""
    with Database(memory=True) as empty:
        return [m.name for m in migrations.pending(empty)]


SCHEMA_STEPS = schema_steps()

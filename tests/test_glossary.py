"""The glossary (issue 14): the formulations the tool was made for, imports that reach existing
projects and their segments, `annotator glossary import`, and official renderings found in
English text."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from annotator.cli import cli
from annotator.corpora.glossary import SEED_GLOSSARY, GlossaryProblems, read_glossary, read_seed_glossary
from annotator.errors import InputError
from annotator.services.glossary import (
    add_entry,
    ensure_seed,
    glossary_matches,
    import_glossary,
    run_glossary,
    search_glossary,
)
from annotator.services.suggest import suggest_all
from annotator.store import GLOSSARY_VERSION, GlossaryEntry, Store
from annotator.store.db import configure
from annotator.store.schema import migrations

CYBER = ("网络强国", "网络安全屏障", "党管互联网", "网络空间命运共同体", "网信事业")
ZH = "坚持党管互联网，筑牢国家网络安全屏障，加快建设网络强国。"
EN = "Beijing wants to become a Cyber Great Power, its officials say."


def add_speech(store: Store, text: str, language: str) -> list[int]:
    speech = {"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text, "language": language}
    speech_id = store.add_speech(speech, [{"start": 0, "end": len(text), "text": text, "language": language}])
    return [s.id for s in store.segments_of_speech(speech_id)]


def glossary_spans(store: Store, segment_id: int) -> dict[str, dict]:
    text = store.segment(segment_id).text
    return {text[s.start:s.end]: s.extra for s in store.suggestions(segment_id, [GLOSSARY_VERSION])}


# ------------------------------------------------------------------ the seed glossary
def test_the_seed_has_the_cyberspace_formulations_with_their_sources() -> None:
    seed = {e.source_text: e for e in read_seed_glossary()}
    for phrase in CYBER:
        assert seed[phrase].rendering and seed[phrase].source, phrase
    assert seed["网络强国"].rendering == "cyberpower" and "cyber great power" in seed["网络强国"].renderings
    assert seed["网络空间命运共同体"].rendering == "a community with a shared future in cyberspace"
    assert "UNVERIFIED" in seed["网络安全屏障"].note  # said plainly, no invented citation


def test_the_seed_reaches_a_project_made_before_it_grew(store):
    """An existing project with the older 78-entry seed (its own edit of one entry among them)
    and glossary suggestions already stored: `suggest` brings the new formulations in, finds
    them in the segments at once, and leaves the project's own edit alone."""
    # as the earlier reader loaded the seed: quotes stripped at the ends only (一带一路"倡议)
    rows = [line.split("\t") for line in SEED_GLOSSARY.read_text(encoding="utf-8").splitlines()[1:]]
    old_seed = [GlossaryEntry(row[0].strip("\"'“”「」『』"), "zh", row[1], row[2], "zh_en_political_terms.tsv")
                for row in rows if row[0] not in CYBER]
    store.add_glossary(old_seed)
    store.add_glossary([GlossaryEntry("文化自信", "zh", "cultural self-confidence", "our house style", "anna")])
    zh = add_speech(store, ZH, "zh")[0]
    en = add_speech(store, EN, "en")[0]
    run_glossary(store, store.glossary(), store.segments([zh, en]))  # as an older version left it
    assert "网络强国" not in glossary_spans(store, zh)

    report = suggest_all(store, translate=False)
    # the five are new, and five quoted phrases in the form the text has (“一带一路”倡议, in place
    # of 一带一路"倡议); the seed's other entries get their sources; the project's own edit stays
    assert ("glossary: 10 new official formulations from the seed glossary, 72 updated, 5 removed; "
            "matched again in 2 segments") in report.skipped
    assert store.glossary_entry('一带一路"倡议', "zh") is None
    spans = glossary_spans(store, zh)
    assert {"党管互联网", "网络安全屏障", "网络强国"} <= set(spans)
    assert spans["网络强国"]["rendering"] == "cyberpower"
    assert glossary_spans(store, en)["Cyber Great Power"]["formulation"] == "网络强国"
    assert store.glossary_entry("文化自信", "zh").rendering == "cultural self-confidence"  # the project's own
    assert ensure_seed(store).added == 0  # once


def test_quoted_seed_phrases_are_found_as_chinese_text_writes_them() -> None:
    text = "推动共建“一带一路”倡议，统筹推进“五位一体”总体布局，坚定“四个自信”。"
    found = {text[m.start:m.end] for m in glossary_matches(text, read_seed_glossary(), "zh")}
    assert {"“一带一路”倡议", "“五位一体”总体布局", "四个自信"} <= found


def test_a_database_from_before_variants_keeps_its_glossary(tmp_path):
    path = tmp_path / "old.db"
    db = Database(str(path))
    configure(db)
    migrations.apply(db, stop_before="m013_glossary_variants")
    db.execute("INSERT INTO glossary (source_text, language, rendering, note, source) "
               "VALUES ('网络强国', 'zh', 'cyberpower', '', 'mine')")
    db.conn.commit()
    db.close()
    store = Store.open(path)
    assert store.glossary() == [GlossaryEntry("网络强国", "zh", "cyberpower", "", "mine", "")]
    store.close()


# ------------------------------------------------------------------------- importing
def test_import_reads_named_columns_in_any_order_csv_and_tsv(store, tmp_path):
    tsv = tmp_path / "terms.tsv"
    tsv.write_text("rendering\tphrase\tsource\tlanguage\tnote\n"
                   "cyberpower\t网络强国\tChina Daily\tZH\tofficial\n"  # a code in any case
                   "the Russian world\tрусский мир\t\tru\t\n", encoding="utf-8")
    csv_file = tmp_path / "terms.csv"
    csv_file.write_text('phrase,rendering,note,variants\n"中国梦","the Chinese Dream","a note, with a comma",'
                        '"China Dream; Chinese dream"\n', encoding="utf-8")
    entries = read_glossary(tsv) + read_glossary(csv_file)
    assert entries == [
        GlossaryEntry("网络强国", "zh", "cyberpower", "official", "China Daily"),
        GlossaryEntry("русский мир", "ru", "the Russian world", "", "terms.tsv"),  # source: the file
        GlossaryEntry("中国梦", "zh", "the Chinese Dream", "a note, with a comma", "terms.csv",
                      "China Dream; Chinese dream"),
    ]
    # the old three-column files without a header read when forced (--force), by position
    old = tmp_path / "old.tsv"
    old.write_text("文化自信\tcultural confidence\tnote\n", encoding="utf-8")
    assert read_glossary(old, "zh", force=True) == [
        GlossaryEntry("文化自信", "zh", "cultural confidence", "note", "old.tsv")]


def test_import_is_all_or_nothing_with_file_and_line(store, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("phrase\trendering\tlanguage\n"
                   "网络强国\tcyberpower\tzh\n"
                   "党管互联网\t\tzh\n"
                   "网信事业\tthe cause\tChinese\n"
                   "网络强国\tcyber great power\tzh\n", encoding="utf-8")
    with pytest.raises(GlossaryProblems) as caught:
        import_glossary(store, bad)
    assert caught.value.problems == [
        f"{bad}:3: no rendering; each line needs at least a phrase and its rendering",
        f"{bad}:4: the language 'Chinese' is not a language code; did you mean zh (Chinese)?",  # the nearest
        f"{bad}:5: 网络强国 (zh) is also on line 2",
    ]
    assert store.glossary() == []  # nothing imported


def test_cli_glossary_import_reaches_the_segments_and_lists(db_path, tmp_path):
    store = Store.open(db_path)
    zh = add_speech(store, ZH, "zh")[0]
    ensure_seed(store)  # as `models setup` does
    suggest_all(store, translate=False)  # the segments have their matches
    store.close()
    terms = tmp_path / "terms.tsv"
    terms.write_text("phrase\trendering\tsource\n国家网络安全屏障\tthe national cybersecurity barrier\tmy notes\n",
                     encoding="utf-8")
    result = CliRunner().invoke(cli, ["glossary", "import", str(terms), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "1 new formulations, 0 updated; matched again in 1 segment" in result.output
    store = Store.open(db_path)
    # the longer formulation wins in the segment already matched, at once
    assert glossary_spans(store, zh)["国家网络安全屏障"]["rendering"] == "the national cybersecurity barrier"
    store.close()
    listed = CliRunner().invoke(cli, ["glossary", "list", "--search", "barrier national", "--db", str(db_path)])
    assert listed.exit_code == 0
    assert listed.output.splitlines()[1:] == ["国家网络安全屏障\tzh\tthe national cybersecurity barrier\t\t\tmy notes"]


def test_cli_glossary_import_prints_every_problem(db_path, tmp_path):
    Store.open(db_path).close()
    bad = tmp_path / "bad.csv"
    bad.write_text("phrase,rendering\n,cyberpower\n网信事业,\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["glossary", "import", str(bad), "--db", str(db_path)])
    assert result.exit_code == 2
    assert f"{bad}:2: no phrase" in result.output and f"{bad}:3: no rendering" in result.output
    assert "2 problems in" in result.output and "nothing was imported" in result.output


def test_language_codes_are_checked_as_everywhere_else(db_path, tmp_path, store):
    """A file's language and --lang are language codes, normalised as an import's are (zho is
    zh), and a code that is none is refused with the nearest known ones."""
    terms = tmp_path / "terms.tsv"
    terms.write_text("phrase\trendering\tlanguage\n网络强国\tcyberpower\tzho\n", encoding="utf-8")
    assert [e.language for e in read_glossary(terms)] == ["zh"]
    with pytest.raises(InputError, match=r"'ge' is not a language code; did you mean de \(German\)"):
        add_entry(store, "Leitkultur", "ge", "guiding culture")
    Store.open(db_path).close()
    result = CliRunner().invoke(cli, ["glossary", "import", str(terms), "--lang", "ge", "--db", str(db_path)])
    assert result.exit_code == 2
    assert "--lang 'ge' is not a language code; did you mean de (German)" in result.output


# --------------------------------------------------------------- English renderings
def test_official_renderings_are_found_in_english_text() -> None:
    entries = read_seed_glossary()
    text = ("Xi called for a community with a shared future in cyberspace and for building "
            "a cyber great power; critics of the cyberpowers and of cyber great powerful states disagree.")
    found = {text[m.start:m.end]: m.extra for m in glossary_matches(text, entries, "en")}
    assert found["community with a shared future in cyberspace"]["formulation"] == "网络空间命运共同体"
    assert found["cyber great power"]["formulation"] == "网络强国"  # a variant
    assert found["cyber great power"]["rendering"] == "cyberpower" and found["cyber great power"]["matched"] == "variant"
    assert "cyberpowers" not in found and "cyber great powerful" not in found  # whole words only
    # in the formulation's own language only the phrase itself counts
    assert glossary_matches("网络强国 cyberpower", entries, "zh")[0].extra["matched"] == "phrase"
    assert len(glossary_matches("网络强国 cyberpower", entries, "zh")) == 1


def test_the_screen_shows_which_formulation_an_english_rendering_stands_for(store):
    from annotator.services.session import Session
    from annotator.schemes import get_scheme
    from annotator.ui.widgets import glossary_text

    ensure_seed(store)
    en = add_speech(store, EN, "en")[0]
    suggest_all(store, translate=False)
    view = Session(store, "anna", get_scheme()).view(en)
    assert glossary_text(view).plain == "Cyber Great Power ← 网络强国 (official: cyberpower)"


# ---------------------------------------------------------------------------- adding
def test_an_entry_added_by_hand_is_saved_and_matched_at_once(store):
    zh = add_speech(store, "推进网信事业高质量发展。", "zh")[0]
    ensure_seed(store)
    suggest_all(store, translate=False)
    change = add_entry(store, "高质量发展", "zh", "high-quality growth", annotator="anna")
    assert (change.added, change.updated, change.segments) == (0, 1, 1)
    entry = store.glossary_entry("高质量发展", "zh")
    assert (entry.rendering, entry.source) == ("high-quality growth", "added by anna")
    assert glossary_spans(store, zh)["高质量发展"]["rendering"] == "high-quality growth"
    with pytest.raises(Exception, match="no rendering"):
        add_entry(store, "网信", "zh", "  ")


def test_search_matches_every_word_in_any_order() -> None:
    entries = read_seed_glossary()
    assert [e.source_text for e in search_glossary(entries, "cyberspace shared")] == ["网络空间命运共同体"]
    assert [e.source_text for e in search_glossary(entries, "网信")] == ["网信事业"]
    assert len(search_glossary(entries, "")) == len(entries)


def test_a_header_with_an_unknown_column_is_refused_not_read_as_an_entry(store, tmp_path):
    terms = tmp_path / "terms.tsv"
    terms.write_text("phrase\trendering\tcomment\n网络强国\tcyberpower\tofficial\n", encoding="utf-8")
    with pytest.raises(InputError, match="'comment', not a column of a glossary") as caught:
        import_glossary(store, terms)
    assert f"{terms}" in str(caught.value) and ":1" in str(caught.value)
    assert store.glossary() == []


def test_a_changed_rendering_reaches_segments_written_another_way(store):
    """The matcher reads "cyber-power" as "cyber power" too: a change finds those segments."""
    en = add_speech(store, "They speak of a cyber power rising.", "en")[0]
    ensure_seed(store)
    suggest_all(store, translate=False)
    add_entry(store, "网络大国", "zh", "cyber-power")
    assert "cyber power" in glossary_spans(store, en)


def test_an_entry_typed_with_straight_quotes_is_saved_as_chinese_text_writes_it(store):
    zh = add_speech(store, "坚持“三个代表”重要思想。", "zh")[0]
    ensure_seed(store)
    suggest_all(store, translate=False)
    add_entry(store, '"三个代表"重要思想', "zh", "the important thought of the Three Represents")
    assert store.glossary_entry("“三个代表”重要思想", "zh") is not None
    assert "“三个代表”重要思想" in glossary_spans(store, zh)

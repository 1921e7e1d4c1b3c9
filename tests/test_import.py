"""Import: every format, bad input (database unchanged), idempotency, languages, offsets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.cli import cli
from annotator.corpora.importer import import_paths
from annotator.corpora.segment import Piece, _move_opening_quotes, opening_quote_at_end, segment_text
from annotator.errors import InputError
from annotator.store import Store

ZH = "各位代表：\n现在，我代表国务院，向大会报告政府工作。我们要建设网络强国！坚持高质量发展；推进中国式现代化。"
DE = "Sehr geehrte Frau Präsidentin! Die 100. Sitzung des Nationalrates ist eröffnet. Das ist z. B. wichtig."
EN = 'Mr. Smith went to Washington. He said "We will win." The U.N. agreed.'
AR = "قال الرئيس: نحن هنا اليوم من أجل السلام. هل توافقون على ذلك؟ نعم!"


def snapshot(store: Store) -> tuple:
    c = store.counts()
    return c["speeches"], c["segments"], c["translated"]


def test_segmentation_chinese_and_european():
    zh = [p.text for p in segment_text(ZH, "zh")]
    assert zh == ["各位代表：", "现在，我代表国务院，向大会报告政府工作。", "我们要建设网络强国！",
                  "坚持高质量发展；", "推进中国式现代化。"]
    de = [p.text for p in segment_text(DE, "de")]
    assert de == ["Sehr geehrte Frau Präsidentin!", "Die 100. Sitzung des Nationalrates ist eröffnet.",
                  "Das ist z. B. wichtig."]
    en = [p.text for p in segment_text(EN, "en")]
    assert en == ["Mr. Smith went to Washington.", 'He said "We will win."', "The U.N. agreed."]
    assert len(segment_text(AR, "ar")) == 3


def test_hard_wrapped_english_lines_stay_one_sentence():
    text = "My fellow leaders, today is the fourth time I have had the\ngreat honor of speaking here. It is my last."
    assert [p.text for p in segment_text(text, "en")] == [
        "My fellow leaders, today is the fourth time I have had the\ngreat honor of speaking here.",
        "It is my last."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab 。！？；.!?\n\"”“«»„‘’'「」中国😀é\u0301ا") + ["Mr.", "U.S.", "3.", "\n\n", ' "', ". «"]),
                max_size=60).map("".join),
       st.sampled_from(["en", "zh", "de", "ar", "fr", "ru"]))
def test_offsets_always_map_back(text, lang):
    pieces = segment_text(text, lang)
    for piece, after in zip(pieces, [*pieces[1:], None]):
        assert text[piece.start:piece.end] == piece.text
        assert piece.text and piece.text == piece.text.strip()
        if after is not None:
            assert piece.end <= after.start
            # an opening quotation mark goes with the sentence it opens (unless a blank line parts them)
            assert not opening_quote_at_end(piece.text) or "\n\n" in text[piece.end:after.start].replace(" ", "")


@pytest.mark.parametrize("lang, text, expected", [
    # hard-wrapped news: the line ends with the opening mark of a quoted slogan
    ("ru", 'Это вызов всей цивилизации. "\nНикогда снова" не должно стать пустыми словами.',
     ["Это вызов всей цивилизации.", '"\nНикогда снова" не должно стать пустыми словами.']),
    ("en", 'It was a crime against civilisation. “\nNever again” is what we owe them. We will remember.',
     ["It was a crime against civilisation.", "“\nNever again” is what we owe them.", "We will remember."]),
    ("en", 'It ended with "\nNever again" as a motto.', ['It ended with "\nNever again" as a motto.']),
    ("fr", "Nous disons : « \nPlus jamais ça » aujourd'hui. Fin.", ["Nous disons : « \nPlus jamais ça » aujourd'hui.", "Fin."]),
    ("zh", "我们说。「\n永不再来」是口号。", ["我们说。", "「\n永不再来」是口号。"]),
    # closing marks stay where they are: after the full stop, and French « … » with its space
    ("en", 'He said "We will win."\nThe U.N. agreed.', ['He said "We will win."', "The U.N. agreed."]),
    ("fr", "Il a dit : « Jamais ! »\nPuis il est parti.", ["Il a dit : « Jamais ! »", "Puis il est parti."]),
    ("de", "Wir sagen: „Nie wieder!“\nSo war es.", ["Wir sagen: „Nie wieder!“", "So war es."]),
])
def test_an_opening_quote_starts_the_sentence_it_opens(lang, text, expected):
    assert [p.text for p in segment_text(text, lang)] == expected


def test_an_opening_quote_left_by_the_splitter_moves_to_the_next_sentence():
    text = 'First sentence. " Second one" ends. Third.'
    cuts = [(0, 17), (18, 35), (36, 42)]  # as a splitter might return them: 'First sentence. "', …
    pieces = [Piece(a, b, text[a:b]) for a, b in cuts]
    assert [p.text for p in pieces] == ['First sentence. "', 'Second one" ends.', "Third."]
    moved = _move_opening_quotes(text, pieces)
    assert [p.text for p in moved] == ["First sentence.", '" Second one" ends.', "Third."]
    assert all(text[p.start:p.end] == p.text for p in moved)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_plain_text_with_front_matter(tmp_path, store):
    f = write(tmp_path / "speech.md", "---\ntitle: Report\nspeaker: 李强\ndate: 2024-03-05\nlanguage: zh\n---\n" + ZH)
    report = import_paths(store, [f])
    assert report.speeches_added == 1
    sp = store.speeches()[0]
    assert (sp.title, sp.speaker, sp.language) == ("Report", "李强", "zh")
    full = store.speech(sp.id, with_text=True).text
    for seg in store.segments_of_speech(sp.id):
        assert full[seg.start:seg.end] == seg.text


def test_jsonl_and_csv_records(tmp_path, store):
    j = write(tmp_path / "a.jsonl", "\n".join(json.dumps({"text": t, "title": f"s{i}"}, ensure_ascii=False)
                                              for i, t in enumerate([EN, DE])) + "\n")
    c = write(tmp_path / "b.csv", 'title,speaker,text\nArabic,Someone,"' + AR + '"\n')
    report = import_paths(store, [j, c])
    assert report.speeches_added == 3
    langs = {s.title: s.language for s in store.speeches()}
    assert langs == {"s0": "en", "s1": "de", "Arabic": "ar"}


def test_parlamint_pairs_bring_english(tmp_path, store):
    folder = tmp_path / "ParlaMint-IT"
    write(folder / "ParlaMint-IT_2015-06-10-X.txt",
          "ParlaMint-IT_2015-06-10-X.u1\tLa seduta è aperta. Si dia lettura del processo verbale.\n"
          "ParlaMint-IT_2015-06-10-X.u2\tGrazie, signor Presidente.\n")
    write(folder / "ParlaMint-IT-en_2015-06-10-X.txt",
          "ParlaMint-IT_2015-06-10-X.ana.u1\tThe sitting is open. The minutes shall be read.\n"
          "ParlaMint-IT_2015-06-10-X.ana.u2\tThank you, Mr President.\n")
    report = import_paths(store, [tmp_path])
    assert report.speeches_added == 2  # the -en file is read with its original, not as speeches
    assert report.translations_added == 3
    first = store.segments_of_speech(1)
    assert store.best_translation(first[0].id).text == "The sitting is open."
    assert store.best_translation(first[0].id).provenance == "corpus"
    assert store.speech(1).licence.startswith("CC BY 4.0")


def test_parlamint_utterance_whose_id_differs_in_the_english_file_is_paired_by_its_place(tmp_path, store):
    # as in the demo's ParlaMint-ES-CT sample: the English file numbers the 2nd utterance 72
    folder = tmp_path / "ParlaMint-ES-CT"
    write(folder / "ParlaMint-ES-CT_2018-05-12-0901.txt",
          "ParlaMint-ES-CT_2018-05-12-0901.1.0\tBon dia a tothom.\n"
          "ParlaMint-ES-CT_2018-05-12-0901.2.0\tSenyor president.\n"
          "ParlaMint-ES-CT_2018-05-12-0901.70.0\tS'aixeca la sessió.\n")
    write(folder / "ParlaMint-ES-CT-en_2018-05-12-0901.txt",
          "ParlaMint-ES-CT_2018-05-12-0901.1.0\tGood morning, everyone.\n"
          "ParlaMint-ES-CT_2018-05-12-0901.72.0\tMr President.\n"
          "ParlaMint-ES-CT_2018-05-12-0901.70.0\tThe session is adjourned.\n")
    import_paths(store, [tmp_path])
    english = [store.best_translation(seg.id).text for sp in store.speeches() for seg in store.segments_of_speech(sp.id)]
    assert english == ["Good morning, everyone.", "Mr President.", "The session is adjourned."]


def test_import_twice_adds_nothing(tmp_path, store):
    f = write(tmp_path / "a.txt", EN)
    assert import_paths(store, [f]).speeches_added == 1
    before = snapshot(store)
    again = import_paths(store, [f])
    assert again.speeches_added == 0 and again.speeches_skipped == 1
    assert snapshot(store) == before


BAD_INPUTS = {
    "invalid utf-8": ("bad.txt", b"Hello\nworld \xff\xfe here", r"bad.txt:2: invalid UTF-8"),
    "empty": ("empty.txt", b"   \n", r"empty.txt: empty file"),
    "binary": ("blob.txt", b"\x89PNG\x00\x00\x01", r"blob.txt: binary file"),
    "csv without text": ("c.csv", b"title,speaker\nA,B\n", r"c.csv:1: no 'text' column"),
    "bad json line": ("j.jsonl", b'{"text": "ok"}\n{"text": broken}\n', r"j.jsonl:2: invalid JSON"),
    "unterminated json string": ("u.jsonl", b'{"text": "ok\n', r"u.jsonl:1: invalid JSON \(Unterminated string starting at column 10\)$"),
    "not a language code": ("g.jsonl", b'{"text": "Guten Tag.", "language": "ge"}\n',
                            r"g.jsonl:1: field 'language' 'ge' is not a language code; did you mean de \(German\), ka \(Georgian\)"),
    "not a language code in front matter": ("l.md", b"---\nlanguage: xx\n---\nHello there.\n",
                                            r"l.md(:\d+)?: field 'language' 'xx' is not a language code"),
    "json without text": ("k.jsonl", b'{"text": "ok"}\n{"title": "x"}\n', r"k.jsonl:2: missing or empty 'text'"),
    "parlamint without tab": ("ParlaMint-AT_2020-01-01.txt", b"id1 no tab here\n", r":1: expected 'utterance-id<TAB>text'"),
    "unclosed front matter": ("f.md", b"---\ntitle: x\nno end\n", r"f.md:1: front matter"),
    "lone surrogate in json text": ("s.jsonl", b'{"text": "ok"}\n{"text": "bad \\ud800 here"}\n',
                                    r"s.jsonl:2: a lone surrogate \(U\+D800\).*character 5 of 'text'"),
    "lone surrogate in json title": ("t.jsonl", b'{"text": "fine", "title": "\\udfff"}\n',
                                     r"t.jsonl:1: a lone surrogate \(U\+DFFF\).*character 1 of 'title'"),
    "lone surrogate in front matter": ("y.md", b'---\nspeaker: Ann\ntitle: "x \\ud83d"\n---\nText here.\n',
                                       r"y.md:3: a lone surrogate \(U\+D83D\).*of 'title'"),
    "surrogate after a blank line": ("b.md", b'---\ntitle: x\n\nspeaker: "\\ud800"\n---\nText here.\n',
                                     r"b.md:4: a lone surrogate"),
    "NUL in json text": ("n.jsonl", b'{"text": "cut \\u0000 here"}\n', r"n.jsonl:1: a NUL character.*character 5 of 'text'"),
    "NUL deep in a speech": ("d.txt", b"Good text.\n" * 1000 + b"A speech with \x00 inside.\n",
                             r"d.txt:1001: a NUL character \(U\+0000\); SQLite would cut the text there, at column 15"),
    "NUL in csv": ("n.csv", b"title,text\nA,fine\nB," + b"x" * 9000 + b"\x00\n",
                   r"n.csv:3: a NUL character.*of 'text'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_error_and_changes_nothing(case, tmp_path, store):
    good = write(tmp_path / "good.txt", EN)
    name, content, message = BAD_INPUTS[case]
    bad = write(tmp_path / name, content)
    with pytest.raises(InputError, match=message):
        import_paths(store, [good, bad])
    assert snapshot(store) == (0, 0, 0)  # the good file was not imported either: all or nothing


def test_a_50mb_single_line_is_refused(tmp_path, store):
    big = write(tmp_path / "big.jsonl", b'{"text": "' + b"a" * 50_000_000 + b'"}\n')
    with pytest.raises(InputError, match=r"big.jsonl:1: a single record of 50,000,\d{3} characters"):
        import_paths(store, [big])
    assert snapshot(store) == (0, 0, 0)


def test_cli_errors_are_one_line_without_traceback(tmp_path, db_path):
    bad = write(tmp_path / "bad.txt", b"\xff\xfe")
    result = CliRunner().invoke(cli, ["import", str(bad), "--db", str(db_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [f"annotator: error: {bad}:1: invalid UTF-8 at byte 0 (save the file as UTF-8)"]


def test_a_file_name_that_is_not_utf8_is_one_clear_line(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = os.fsdecode(bytes(folder) + b"/speech-\xff.txt")  # a Latin-1 name on a UTF-8 system
    Path(bad).write_text("A speech about taxes.", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(folder), "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 2 and "a lone surrogate" in result.stderr and "'title'" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_a_failed_first_import_leaves_no_database_behind(tmp_path):
    good = write(tmp_path / "in" / "good.txt", EN)
    write(tmp_path / "in" / "bad.jsonl", b'{"text": "ok"}\n{"text": broken}\n')
    project = tmp_path / "project"
    project.mkdir()
    db = project / "new.db"
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "in"), "--db", str(db)])
    assert result.exit_code == 2 and "bad.jsonl:2: invalid JSON" in result.stderr
    assert list(project.iterdir()) == []  # no database, no WAL, no hidden staging file
    ok = CliRunner().invoke(cli, ["import", str(good), "--db", str(db)])
    assert ok.exit_code == 0, ok.output
    assert sorted(p.name for p in project.iterdir()) == ["new.db"]
    assert Store.open(db).counts()["speeches"] == 1


def test_cli_import_and_status(tmp_path, db_path):
    f = write(tmp_path / "zh.txt", ZH)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(f), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "1 speech(es) added" in result.output
    status = runner.invoke(cli, ["status", "--db", str(db_path), "--json"])
    data = json.loads(status.output)
    assert data["speeches"] == 1 and data["languages"] == {"zh": 5}


def test_lang_override(tmp_path, store):
    f = write(tmp_path / "x.txt", EN)
    import_paths(store, [f], language="fr")
    assert store.speeches()[0].language == "fr"


def test_an_unknown_lang_is_refused_with_the_nearest_codes(tmp_path, db_path):
    f = write(tmp_path / "x.txt", DE)
    result = CliRunner().invoke(cli, ["import", str(f), "--lang", "ge", "--db", str(db_path)])
    assert result.exit_code == 2
    assert result.stderr == ("annotator: error: --lang 'ge' is not a language code; did you mean de (German), "
                             "ka (Georgian), be (Belarusian), ga (Irish)?\n")
    assert not db_path.exists()


def test_language_codes_are_normalised_and_german_rules_apply(tmp_path, store):
    f = write(tmp_path / "de.jsonl", json.dumps({"text": DE, "language": "deu"}).encode())
    import_paths(store, [f])
    speech = store.speeches()[0]
    assert speech.language == "de"
    texts = [s.text for s in store.segments_of_speech(speech.id)]
    assert "Die 100. Sitzung des Nationalrates ist eröffnet." in texts  # the ordinal did not end a sentence


def test_bulk_import_is_searchable_and_rolls_back_whole(tmp_path, store, monkeypatch):
    from annotator.corpora import importer

    monkeypatch.setattr(importer, "PARALLEL_THRESHOLD", 2)  # bulk path, in this process
    files = [write(tmp_path / f"s{i}.txt", f"Speech number {i} about taxes. Another sentence {i}.") for i in range(3)]
    report = import_paths(store, files, workers=1)
    assert report.speeches_added == 3
    assert len(store.search("taxes")) == 3
    # the per-row search trigger is back for later writes
    more = write(tmp_path / "later.txt", "A later speech on pensions.")
    import_paths(store, [more])
    assert len(store.search("pensions")) == 1

    before = snapshot(store)
    real_prepare = importer.prepare
    calls = {"n": 0}

    def failing(raw, *a):
        calls["n"] += 1
        if calls["n"] == 3:
            raise InputError(raw.path, "simulated failure in the middle", 1)
        return real_prepare(raw, *a)

    monkeypatch.setattr(importer, "prepare", failing)
    new = [write(tmp_path / f"n{i}.txt", f"New speech {i} on health care.") for i in range(4)]
    with pytest.raises(InputError, match="simulated failure"):
        import_paths(store, new, workers=1)
    assert snapshot(store) == before
    assert store.search("health care") == []
    assert store.db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'segments_ai'").fetchone()[0] == 1


def test_a_speech_that_switches_language_gets_segment_languages(tmp_path, store):
    text = ("我们坚定不移推进高水平对外开放，积极参与全球治理体系改革和建设，推动构建人类命运共同体。"
            "正如一位外国朋友所说：Openness and cooperation are the only way forward for the whole world economy today. "
            "我们将继续扩大开放，欢迎各国企业来华投资兴业，共享中国发展机遇。")
    f = write(tmp_path / "mixed.txt", text)
    import_paths(store, [f])
    langs = [(seg.language, seg.text[:10]) for seg in store.segments_of_speech(1)]
    assert store.speeches()[0].language == "zh"
    assert [lang for lang, _ in langs].count("en") == 1
    assert langs[0][0] == "zh" and langs[-1][0] == "zh"


def test_a_plain_english_sentence_keeps_its_speechs_language(tmp_path, store):
    # lingua's fast mode gives this headline to Latin at 0.98; the speech's language stands
    news = ("A popular public school Bible class in West Virginia faces legal challenge\n\n"
            "The lawsuit was filed on Tuesday by two parents and a civil liberties group, who say that "
            "the weekly class, taught during school hours, promotes one religion over others.")
    import_paths(store, [write(tmp_path / "news.txt", news)])
    assert [seg.language for seg in store.segments_of_speech(1)] == ["en", "en"]


def test_a_quoted_passage_in_another_language_is_still_marked(tmp_path, store):
    # After President Macron's address of 1 June 2017 on the Paris climate agreement: French,
    # then the passage he said in English.
    speech = ("Ce soir, les États-Unis ont annoncé leur décision de quitter l'accord de Paris sur le climat. "
              "J'ai pris acte de cette décision et je la regrette, car c'est une erreur pour les États-Unis "
              "comme pour notre planète. La France ne renoncera pas au combat. "
              "To all scientists, engineers, entrepreneurs, responsible citizens who were disappointed by the "
              "decision of the President of the United States, I want to say that they will find in France a "
              "second homeland. "
              "Je vous le dis avec force ce soir : nous ne renégocierons pas un accord moins ambitieux.")
    import_paths(store, [write(tmp_path / "adresse.txt", speech)])
    assert store.speeches()[0].language == "fr"
    langs = [seg.language for seg in store.segments_of_speech(1)]
    assert langs == ["fr", "fr", "fr", "en", "fr"]

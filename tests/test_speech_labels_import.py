"""import-labels takes frames for whole speeches as document-level data sets have them: a record
names its speech (our id, the corpus's id, the content hash, or the full text, with its title)
and gives frames; all or nothing, with ``file:line: problem`` for each bad record."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from _team_fixtures import add_speech, build_corpus
from annotator.cli import cli
from annotator.export import import_labels
from annotator.export.interop import ImportProblems
from annotator.schemes import get_scheme
from annotator.store import Store


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def corpus(store):
    build_corpus(store, 3, 1)
    store.db.execute("UPDATE speeches SET external_id = 'UN-1999-FR' WHERE id = 2")
    return store


def test_speech_records_name_their_speech_in_every_way_a_data_set_does(corpus, tmp_path):
    speeches = corpus.speeches()
    third = corpus.speech(3, with_text=True)
    zh = corpus.speech(4, with_text=True)
    path = write_jsonl(tmp_path / "docs.jsonl", [
        {"speech_id": 1, "frames": ["Economic", "Political"]},  # our id, no level: a speech record
        {"speech_id": "UN-1999-FR", "frames": ["Morality"], "level": "speech"},  # the corpus's own id
        {"title": third.title, "text": third.text.replace(" ", " ", 1), "frames": ["Political"]},  # full text
        {"speech_hash": speeches[3].content_hash, "frames": []},  # hash: no frames, a rejection
        {"text": corpus.segments_of_speech(1)[0].text, "frames": ["Economic"]},  # a segment record beside them
    ])
    report = import_labels(corpus, path, "jsonl", get_scheme(), annotator="doc")
    assert corpus.speech_annotation(1, "doc").state.frames == ("Economic", "Political")
    assert corpus.speech_annotation(2, "doc").state.frames == ("Morality",)
    assert corpus.speech_annotation(3, "doc").state.frames == ("Political",)
    assert corpus.speech_annotation(zh.id, "doc").state.status == "rejected"
    assert corpus.annotation(corpus.segments_of_speech(1)[0].id, "doc").state.frames == ("Economic",)
    assert report.speech_decisions == 4 and report.speeches == 4 and report.decisions == 1
    assert report.line().startswith("imported 1 decisions on 1 segments and 4 on 4 whole speeches by doc")


def test_a_whole_speech_text_with_windows_line_endings_is_found(store, tmp_path):
    speech = add_speech(store, "Lines", "en", ["First line here.", "Second line here."])
    text = store.speech(speech, with_text=True).text
    prodigy = write_jsonl(tmp_path / "p.jsonl", [{"text": "\n" + text + "\r\n", "accept": ["Economic"],
                                                   "answer": "accept"}])
    import_labels(store, prodigy, "prodigy", get_scheme(), annotator="p")
    assert store.speech_annotation(speech, "p").state.frames == ("Economic",)


def test_one_bad_speech_record_imports_nothing_and_each_problem_names_its_line(corpus, tmp_path):
    seg = corpus.segments_of_speech(1)[0]
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"text": seg.text, "frames": ["Economic"]},
        {"speech_id": 1, "frames": ["Economic"]},
        {"speech_id": 99, "frames": ["Economic"]},
        {"speech_id": "no-such-id", "frames": ["Economic"]},
        {"speech_id": 2, "frames": ["Not_a_frame"]},
        {"speech_id": 3, "level": "speech", "frames": ["Economic"], "spans": [{"start": 0, "end": 3, "label": "Slogan"}]},
        {"speech_id": 3, "title": "Another title", "frames": ["Economic"]},
        {"level": "speech", "frames": ["Economic"]},
        {"speech_hash": "0" * 16, "frames": ["Economic"]},
    ])
    with pytest.raises(ImportProblems) as err:
        import_labels(corpus, path, "jsonl", get_scheme(), annotator="doc")
    assert err.value.problems == [
        f"{path}:3: no speech with id 99 in this project",
        f"{path}:4: no speech imported with id 'no-such-id'",
        f"{path}:6: frames for a whole speech have no spans; put spans on segment records",
        f"{path}:7: title 'Another title' is not speech 3's title 'English speech 2'",
        f"{path}:8: no speech_hash, speech_id or text says which speech these frames are for",
        f"{path}:9: no speech with hash '0000000000000000' in this project",
        f"{path}:5: unknown frame label 'Not_a_frame' (scheme framing)",
    ]
    assert list(corpus.iter_speech_annotations()) == [] and corpus.counts()["annotated"] == 0


def test_the_command_line_lists_every_problem_and_keeps_nothing(db_path, tmp_path):
    store = Store.open(db_path)
    build_corpus(store, 2, 0)
    store.close()
    path = write_jsonl(tmp_path / "docs.jsonl", [{"speech_id": 1, "frames": ["Economic"]},
                                                 {"speech_id": 7, "frames": ["Economic"]}])
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", "jsonl", "--db", str(db_path)])
    assert result.exit_code == 2
    assert f"{path}:2: no speech with id 7 in this project" in result.stderr
    assert "nothing was imported" in result.stderr
    assert list(Store.open(db_path).iter_speech_annotations()) == []
    write_jsonl(path, [{"speech_id": 1, "frames": ["Economic"]}])
    result = CliRunner().invoke(cli, ["import-labels", str(path), "--format", "jsonl", "--db", str(db_path),
                                      "--annotator", "zoe"])
    assert result.exit_code == 0, result.output
    assert "and 1 on 1 whole speeches by zoe" in result.output
    assert Store.open(db_path).speech_annotation(1, "zoe").state.frames == ("Economic",)

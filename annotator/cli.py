"""The ``annotator`` command line. Errors are one line on stderr with exit status 2."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from annotator import __version__
from annotator.cli_common import db_option, echo, open_store
from annotator.errors import AnnotatorError


class Group(click.Group):
    """Turns any ``AnnotatorError`` into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AnnotatorError as exc:
            echo(f"annotator: error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            echo("annotator: interrupted; nothing half-written was kept", err=True)
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="annotator")
def cli() -> None:
    """Annotate political speeches: slogan spans and framing labels, with machine suggestions.

    \b
    The loop:  import → suggest → annotate → export → train → suggest again.
    Start with:  annotator demo
    """


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "text", "markdown", "jsonl", "csv", "parlamint"]),
              help="Input format; auto picks by file name and content.")
@click.option("--lang", default=None, help="Language of every speech (ISO 639-1); skips detection.")
@click.option("--segment-langid/--no-segment-langid", default=True, show_default=True,
              help="Detect the language of each long segment too (mixed-language speeches).")
@db_option
def import_cmd(paths: tuple[Path, ...], fmt: str, lang: str | None, segment_langid: bool, db_path: Path) -> None:
    """Import speeches from files or folders (all or nothing; re-importing adds nothing)."""
    from annotator.corpora.importer import import_paths
    from annotator.progress import Bars
    from annotator.store import Store

    # A first import that fails leaves no empty database behind.
    opening = contextlib.nullcontext(open_store(db_path)) if db_path.exists() else Store.creating(db_path)
    with opening as store, Bars() as bars:
        report = import_paths(store, list(paths), fmt=fmt, language=lang,
                              segment_langid=segment_langid, progress=bars.update)
    echo(report.summary())


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def status(db_path: Path, as_json: bool) -> None:
    """Speeches, segments, languages, suggestions and annotations in the project."""
    if not db_path.exists():
        raise AnnotatorError(f"{db_path}: no such database; run `annotator import PATH…` or `annotator demo` first")
    counts = open_store(db_path).counts()
    if as_json:
        echo(json.dumps(counts, ensure_ascii=False, indent=2))
        return
    echo(f"database     {db_path}")
    echo(f"speeches     {counts['speeches']}")
    echo(f"segments     {counts['segments']}")
    langs = ", ".join(f"{k} {v}" for k, v in counts["languages"].items())
    echo(f"languages    {langs or '-'}")
    prov = ", ".join(f"{k} {v}" for k, v in counts["translations_by_provenance"].items())
    echo(f"translated   {counts['translated']} segments ({prov or 'none yet'})")
    echo(f"suggested    {counts['suggested']} segments")
    echo(f"annotated    {counts['annotated']} segments")
    for name, per in sorted(counts["annotators"].items()):
        echo(f"  {name:<12} " + ", ".join(f"{k} {v}" for k, v in sorted(per.items())))
    echo(f"glossary     {counts['glossary']} formulations")
    active = ", ".join(f"{k}: {v}" for k, v in sorted(counts["active_models"].items()))
    echo(f"models       {active or 'none active (run `annotator models setup`)'}")


@cli.command()
@click.option("--verbose", "-v", is_flag=True, help="Show every label with its definition.")
def schemes(verbose: bool) -> None:
    """List the label schemes (built in, and the project's own in ./schemes/*.toml)."""
    from annotator.schemes import DEFAULT_SCHEME, available_schemes

    for name, scheme in sorted(available_schemes().items()):
        mark = " (default)" if name == DEFAULT_SCHEME else ""
        echo(f"{name}{mark}: {scheme.title} — {len(scheme.frames)} segment labels, "
                   f"{len(scheme.spans)} span labels  [{scheme.source}]")
        if verbose:
            for lab in (*scheme.frames, *scheme.spans):
                echo(f"  [{lab.key or ' '}] {lab.id:<46} {lab.definition}")


def _register_commands() -> None:
    """Commands from the other areas (ml, ui, export, team, demo); each module lists its own."""
    from annotator import demo
    from annotator.export import commands as export_commands
    from annotator.ml import commands as ml_commands
    from annotator.team import commands as team_commands
    from annotator.ui import commands as ui_commands

    for module in (ml_commands, ui_commands, export_commands, team_commands, demo):
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main() -> None:
    cli(prog_name="annotator")

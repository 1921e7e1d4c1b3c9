"""``annotator annotate``: open the annotation UI on a project database."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli_common import annotator_option, db_option
from annotator.errors import AnnotatorError


@click.command("annotate")
@db_option
@annotator_option
@click.option("--scheme", "scheme_name", default=None,
              help="Label scheme: a name (see the schemes folder) or a .toml file. Default: framing.")
@click.option("--suggest/--no-suggest", default=True, show_default=True,
              help="Compute missing suggestions in the background while you annotate.")
def annotate(db_path: Path, annotator_name: str, scheme_name: str | None, suggest: bool) -> None:
    """Annotate segments with the keyboard: a accept, x reject, space skip, ⌫ undo, ctrl+q quit.

    Every decision is saved the moment it is made.
    """
    if not Path(db_path).exists():
        raise AnnotatorError(f"{db_path}: no such database; run `annotator import PATH…` or `annotator demo` first")
    from annotator.ui.app import make_app

    make_app(db_path, annotator_name, scheme_name, suggest=suggest).run()


COMMANDS = [annotate]


def main() -> None:
    """Entry point for ``python -m annotator.ui.app``: errors as one line, exit status 2."""
    try:
        annotate(standalone_mode=True)
    except AnnotatorError as exc:
        click.echo(f"annotator: error: {exc}", err=True)
        raise SystemExit(2) from None

"""``annotator annotate``: open the annotation UI on a project database."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli_common import annotator_option, db_option, echo
from annotator.errors import AnnotatorError


@click.command("annotate")
@db_option
@annotator_option
@click.option("--scheme", "scheme_name", default=None,
              help="Label scheme: a name (see the schemes folder) or a .toml file. Default: framing.")
@click.option("--suggest/--no-suggest", default=True, show_default=True,
              help="Compute missing suggestions in the background while you annotate.")
@click.option("--adjudicate", is_flag=True,
              help="Start in adjudication mode: only segments annotators disagree on; your decisions "
                   "are stored as adjudicator:<you> and win in the export.")
@click.option("--base", "train_base", default=None,
              help="Encoder that 'Retrain now' (ctrl+t) builds on: a folder or a saved version. "
                   "Default: the default encoder.")
def annotate(db_path: Path, annotator_name: str, scheme_name: str | None, suggest: bool, adjudicate: bool,
             train_base: str | None) -> None:
    """Annotate segments with the keyboard: a accept, x reject, space skip, ⌫ undo, ctrl+q quit.

    Every decision is saved the moment it is made. d toggles adjudication mode, ctrl+t retrains
    the frames model on the labels so far. A keymap file ($ANNOTATOR_KEYMAP, or keymap.toml in
    the project folder) moves keys: [keys] then lines such as accept = "enter".
    """
    if not Path(db_path).exists():
        raise AnnotatorError(f"{db_path}: no such database; run `annotator import PATH…` or `annotator demo` first")
    from annotator.ui.app import make_app

    make_app(db_path, annotator_name, scheme_name, suggest=suggest, adjudicate=adjudicate,
             train_base=train_base).run()


COMMANDS = [annotate]


def main() -> None:
    """Entry point for ``python -m annotator.ui.app``: errors as one line, exit status 2."""
    try:
        annotate(standalone_mode=True)
    except AnnotatorError as exc:
        echo(f"annotator: error: {exc}", err=True)
        raise SystemExit(2) from None

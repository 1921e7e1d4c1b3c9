"""``annotator annotate``: open the annotation UI on a project database."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli.common import annotator_option, db_option, existing_db


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
    from annotator.ui.app import make_app

    make_app(existing_db(db_path), annotator_name, scheme_name, suggest=suggest, adjudicate=adjudicate,
             train_base=train_base).run()


COMMANDS = [annotate]


"""``annotator annotate``: open the annotation UI on a project database."""

from __future__ import annotations

from pathlib import Path

import click

from annotator.cli.common import annotator_option, db_option, echo, engine_option, existing_db
from annotator.services.session import RETRAIN_EVERY
from annotator.store import Store


@click.command("annotate")
@db_option
@engine_option
@annotator_option
@click.option("--scheme", "scheme_name", default=None,
              help="Label scheme: a name (see the schemes folder) or a .toml file. Default: framing.")
@click.option("--suggest/--no-suggest", default=True, show_default=True,
              help="Compute missing suggestions in the background while you annotate (where no frames or "
                   "spans model is active yet, the default models are set up first, in the background).")
@click.option("--adjudicate", is_flag=True,
              help="Start in adjudication mode: only segments annotators disagree on; your decisions "
                   "are stored as adjudicator:<you> and win in the export.")
@click.option("--base", "train_base", default=None,
              help="Encoder that 'Retrain now' (ctrl+t) and the first models' setup build on: a folder or a "
                   "saved version. Default: the default encoder.")
@click.option("--retrain-every", type=click.IntRange(min=0), default=RETRAIN_EVERY, show_default=True,
              envvar="ANNOTATOR_RETRAIN_EVERY",
              help="Retrain the quick frames models in the background after every N decisions, and refresh "
                   "the suggestions ahead (0: only on ctrl+t). Also $ANNOTATOR_RETRAIN_EVERY.")
@click.option("--queue", default=None, metavar="next[:N]",
              help="Open a queue, in its order: next (the segments `annotator next` lists, least certain "
                   "first) or next:N (the first N of them). f and a filter return to the whole list.")
def annotate(db_path: Path, annotator_name: str, scheme_name: str | None, suggest: bool, adjudicate: bool,
             train_base: str | None, retrain_every: int, queue: str | None) -> None:
    """Annotate segments with the keyboard: a accept, x reject, space skip, ⌫ undo, ctrl+q quit.

    Every decision is saved the moment it is made. d toggles adjudication mode; the frames
    models retrain in the background every few decisions (--retrain-every), and ctrl+t retrains
    them at once (the slow spans tagger: "Retrain frames and spans" in the palette, ctrl+p). A keymap file ($ANNOTATOR_KEYMAP, or keymap.toml in
    the project folder) moves keys: [keys] then lines such as accept = "enter".
    """
    from annotator.ui.app import make_app

    app = make_app(existing_db(db_path), annotator_name, scheme_name, suggest=suggest, adjudicate=adjudicate,
                   train_base=train_base, retrain_every=retrain_every, setup=suggest,
                   queue=queue)  # checks the keymap before anything
    if suggest:
        _ensure_seed_glossary(app.session.store)
    app.run()


def _ensure_seed_glossary(store: Store) -> None:
    """The shipped glossary's new formulations, before the screen opens (a busy database or a
    full disk leaves that for the next time)."""
    from annotator.errors import CannotWriteNow
    from annotator.services.glossary import ensure_seed

    try:
        change = ensure_seed(store, into_empty=False)
    except CannotWriteNow:
        return
    if change.added or change.updated or change.removed:
        echo(f"glossary: {change.line('official formulations from the seed glossary')}")


COMMANDS = [annotate]


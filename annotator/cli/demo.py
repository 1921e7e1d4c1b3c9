"""``annotator demo``: the whole loop on the bundled demo corpus, ready to annotate.

Imports ``corpora/demo`` and its seed labels into the database (idempotent), prepares the
default models offline, fills suggestions, and opens the annotation UI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from annotator.cli.common import annotator_option, db_option, echo, echo_engine_notes, engine_option, open_store
from annotator.errors import AnnotatorError
from annotator.paths import demo_corpus_dir


@click.command()
@db_option
@engine_option
@annotator_option
@click.option("--no-ui", is_flag=True, help="Prepare everything but do not open the UI.")
@click.option("--no-models", is_flag=True, help="Skip model setup and suggestions (import only).")
def demo(db_path: Path, annotator_name: str, no_ui: bool, no_models: bool) -> None:
    """Import the demo corpus, set up the default models, suggest, and open the UI."""
    from annotator.corpora.importer import import_paths
    from annotator.corpora.seeds import import_seed_labels
    from annotator.progress import Bars
    from annotator.schemes import get_scheme

    corpus = demo_corpus_dir()
    if not corpus.is_dir():
        raise AnnotatorError(f"{corpus}: the demo corpus is missing (it ships in the source checkout)")
    store = open_store(db_path)
    if not no_ui:
        from annotator.services.session import refuse_prior_name

        refuse_prior_name(store, annotator_name)  # before the import, not after it
    with Bars() as bars:
        report = import_paths(store, [corpus / "parlamint", corpus / "ungdc", corpus / "chinese"],
                              progress=bars.update)
    echo(f"import: {report.summary()}")
    echo(import_seed_labels(store, corpus / "seed-labels.jsonl", get_scheme()).summary())
    counts = store.counts()
    echo(f"{counts['speeches']} speeches, {counts['segments']} segments in {db_path}; languages: "
               + ", ".join(f"{k} {v}" for k, v in counts["languages"].items()))
    if not no_models:
        from annotator.services import speech_suggest
        from annotator.services.first_run import needs_setup, setup_models, warm_glosser
        from annotator.services.suggest import suggest_all

        if needs_setup(store):  # a first run: the glosses that suggestion makes, loaded beside the setup
            warm_glosser(counts["languages"])
        with Bars(unit="step") as bars:
            for line in setup_models(store, echo=echo, progress=bars.update):
                echo(line)
        with Bars(unit="seg") as bars:
            echo(suggest_all(store, progress=bars.update).summary())
        with Bars(unit="speech") as bars:
            echo(speech_suggest.summary(*speech_suggest.suggest_speeches(store, progress=bars.update)))
        echo_engine_notes()
    if no_ui or not sys.stdout.isatty():
        echo(f"ready: `annotator annotate --db {db_path}` opens the annotation UI")
        return
    from annotator.services.session import RETRAIN_EVERY
    from annotator.ui.app import make_app

    make_app(db_path, annotator_name, retrain_every=RETRAIN_EVERY, setup=not no_models).run()


COMMANDS = [demo]

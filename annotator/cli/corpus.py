"""``annotator import``, ``status``, ``schemes`` and ``glossary``: the corpus and its labels."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from annotator.cli.common import db_option, echo, open_existing, open_store, ray_option


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "text", "markdown", "jsonl", "csv", "parlamint"]),
              help="Input format; auto picks by file name and content.")
@click.option("--lang", default=None, help="Language of every speech (ISO 639-1); skips detection.")
@click.option("--segment-langid/--no-segment-langid", default=True, show_default=True,
              help="Detect the language of each long segment too (mixed-language speeches).")
@ray_option
@db_option
def import_cmd(paths: tuple[Path, ...], fmt: str, lang: str | None, segment_langid: bool, ray_address: str | None,
               db_path: Path) -> None:
    """Import speeches from files or folders (all or nothing; re-importing adds nothing); with
    --ray, segmentation and language detection run on a Ray cluster (or a local Ray)."""
    from annotator.corpora.importer import import_paths
    from annotator.progress import Bars
    from annotator.ray_pool import RayOptions
    from annotator.store import Store

    ray = RayOptions(address=ray_address) if ray_address is not None else None
    # A first import that fails leaves no empty database behind.
    opening = contextlib.nullcontext(open_store(db_path)) if db_path.exists() else Store.creating(db_path)
    with opening as store, Bars() as bars:
        report = import_paths(store, list(paths), fmt=fmt, language=lang,
                              segment_langid=segment_langid, progress=bars.update, ray=ray)
    echo(report.summary())
    if report.translations_added:
        # the corpus's translations, aligned by position so far: by meaning where the encoder is
        from annotator.services.corpus_translations import align_corpus_translations

        with contextlib.closing(open_store(db_path)) as store, Bars(unit="speech") as bars:
            line = align_corpus_translations(store, progress=bars.update).line()
        if line:
            echo(line)


@click.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def status(db_path: Path, as_json: bool) -> None:
    """Speeches, segments, languages, suggestions and annotations in the project."""
    counts = open_existing(db_path).counts()
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
    echo(f"annotated    {counts['annotated']} segments, {counts['speeches_annotated']} whole speeches")
    for name, per in sorted(counts["annotators"].items()):
        prior = " (prior: pre-annotations)" if name in counts["priors"] else ""
        echo(f"  {name:<12} " + ", ".join(f"{k} {v}" for k, v in sorted(per.items())) + prior)
    echo(f"glossary     {counts['glossary']} formulations")
    active = ", ".join(f"{k}: {v}" for k, v in sorted(counts["active_models"].items()))
    echo(f"models       {active or 'none active (run `annotator models setup`)'}")


@click.command()
@click.option("--verbose", "-v", is_flag=True, help="Show every label with its definition.")
def schemes(verbose: bool) -> None:
    """List the label schemes (built in, and the project's own in ./schemes/*.toml); -v: each label's
    display name, its id (what files store and export) and its definition."""
    from annotator.schemes import DEFAULT_SCHEME, available_schemes

    for name, scheme in sorted(available_schemes().items()):
        mark = " (default)" if name == DEFAULT_SCHEME else ""
        echo(f"{name}{mark}: {scheme.title} — {len(scheme.frames)} segment labels, "
                   f"{len(scheme.spans)} span labels  [{scheme.source}]")
        if verbose:
            for lab in (*scheme.frames, *scheme.spans):
                echo(f"  [{lab.key or ' '}] {scheme.display_name(lab.id)} ({lab.id}): {lab.definition}")


@click.group()
def glossary() -> None:
    """The glossary of known formulations and their official renderings."""


@glossary.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lang", default="zh", show_default=True,
              help="Language of the formulations, where the file has no 'language' column.")
@click.option("--force", is_flag=True,
              help="Read a file without a header row (columns in order: phrase, rendering, note, source, "
                   "variants), and take phrases too short to be formulations (one CJK character, fewer than "
                   "4 letters).")
@db_option
def glossary_import(path: Path, lang: str, force: bool, db_path: Path) -> None:
    """Add or update formulations from a TSV or CSV file (all or nothing).

    The first row names the columns: phrase, rendering (required), language, note, source,
    variants (other renderings, ;-separated, also found in English text); a file without it is
    refused unless --force. Matches are found again at once in the segments where a new or
    changed formulation occurs.
    """
    from annotator.corpora.glossary import GlossaryProblems
    from annotator.corpora.languages import checked_language
    from annotator.errors import AnnotatorError, shown
    from annotator.services.glossary import import_glossary

    lang = checked_language(lang, "--lang")
    store = open_existing(db_path)
    store.refuse_own_files([path])  # reading the database itself would drop our locks on it
    try:
        change = import_glossary(store, path, lang, force)
    except GlossaryProblems as exc:
        for line in exc.problems:
            echo(line, err=True)
        count = len(exc.problems)
        raise AnnotatorError(f"{count} problem{'s' if count != 1 else ''} in {shown(path)}; "
                             "nothing was imported") from None
    echo(change.line())


@glossary.command("list")
@click.option("--search", "query", default="", help="Only the entries with all these words (any order).")
@db_option
def glossary_list(query: str, db_path: Path) -> None:
    """Every formulation: phrase, language, official rendering, variants, note, source (TSV)."""
    from annotator.services.glossary import search_glossary
    from annotator.text import visible_text

    echo("phrase\tlanguage\trendering\tvariants\tnote\tsource")
    for e in search_glossary(open_existing(db_path).glossary(), query):
        cells = (e.source_text, e.language, e.rendering, e.variants, e.note, e.source)
        echo("\t".join(visible_text(c) for c in cells))


COMMANDS = [import_cmd, status, schemes, glossary]

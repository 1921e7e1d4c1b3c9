"""``annotator merge``, ``annotator agreement`` and ``annotator assign``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from annotator.cli.common import db_option, echo, open_existing, open_store
from annotator.errors import shown


@click.command("merge")
@click.argument("others", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the report (with every conflict) as JSON.")
def merge_cmd(others: tuple[Path, ...], db_path: Path, as_json: bool) -> None:
    """Merge other project databases into this one (one transaction; merging again adds nothing).

    Where both sides hold different current decisions by one annotator on one segment or whole
    speech, the later one is kept and the pair is listed as a conflict; both stay in the
    history. A glossary phrase rendered otherwise there keeps ours and is listed. Each file is
    read and checked whole before anything is written: one bad row merges nothing.
    """
    from annotator.store.speeches import speech_key
    from annotator.team.merge import merge_databases

    report = merge_databases(open_store(db_path), list(others))
    if as_json:
        data = {k: v for k, v in vars(report).items() if k not in ("conflicts", "glossary_conflicts")}
        data["conflicts"] = [
            {"kind": c.kind, f"{c.kind}_{'uid' if c.kind == 'segment' else 'hash'}": c.item_uid,
             f"{c.kind}_id": c.item_id, "annotator": c.annotator, "kept": c.kept,
             "ours": json.loads(c.ours.to_json()), "theirs": json.loads(c.theirs.to_json()), "source": c.source}
            for c in report.conflicts]
        data["glossary_conflicts"] = [vars(g) for g in report.glossary_conflicts]
        echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    echo(report.line())
    for c in report.conflicts:
        uid = c.item_uid if c.kind == "segment" else speech_key(c.item_uid)
        echo(f"  conflict: {c.kind} {c.item_id} ({uid}) by {shown(c.annotator)}: kept {c.kept} "
             f"(ours {_short(c.ours)}; theirs {_short(c.theirs)})")
    for g in report.glossary_conflicts:
        echo(f"  glossary: {shown(g.source_text)} ({shown(g.language)}) is rendered {shown(repr(g.theirs))} there; "
             f"kept ours, {shown(repr(g.ours))}")


def _short(state) -> str:
    spans = ",".join(f"{s.start}-{s.end}" for s in state.spans)
    return f"{state.status} [{', '.join(state.frames)}]{' spans ' + spans if spans else ''}"


@click.command("agreement")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--scheme", "scheme_name", default=None, help="Label scheme (name or .toml path).")
def agreement_cmd(db_path: Path, as_json: bool, scheme_name: str | None) -> None:
    """Agreement between annotators: Krippendorff's alpha, Cohen's kappa, span F1 (overall and per language)."""
    from annotator.schemes import get_scheme
    from annotator.team.agreement import agreement, format_table

    scheme = get_scheme(scheme_name)
    report = agreement(open_existing(db_path), labels=scheme.frame_ids)
    echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_table(report, scheme))


@click.command("assign")
@click.option("--annotators", "names", required=True, help="Comma-separated names, e.g. anna,ben,chen.")
@click.option("--overlap", type=float, default=0.1, show_default=True,
              help="Fraction of segments given to two annotators, for agreement.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the speech order.")
@click.option("--dry-run", is_flag=True, help="Show the counts without recording anything.")
@db_option
def assign_cmd(names: str, overlap: float, seed: int, dry_run: bool, db_path: Path) -> None:
    """Share out unlabelled segments among annotators, whole speeches kept together where possible."""
    from annotator.team.assign import assign_work, parse_annotators

    plan = assign_work(open_existing(db_path), parse_annotators(names), overlap, seed, dry_run=dry_run)
    for line in plan.lines():
        echo(line)
    if dry_run:
        echo("(dry run: nothing recorded)")


COMMANDS = [merge_cmd, agreement_cmd, assign_cmd]

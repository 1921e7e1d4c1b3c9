"""Pieces every CLI command shares: the --db option, opening the store, the annotator name, echo."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click
from click.core import ParameterSource

from annotator.errors import AnnotatorError, shown
from annotator.paths import DEFAULT_DB
from annotator.store import Store
from annotator.text import terminal_safe

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("ANNOTATOR_DB", DEFAULT_DB),
    show_default="annotator.db (or $ANNOTATOR_DB)",
    help="The project database (SQLite file).",
)


def checked_name(name: str, source: str = "--annotator") -> str:
    """``name`` as an annotator's name, or one line saying what is wrong with it (NUL and other
    control characters, a lone surrogate: :func:`annotator.text.name_problem`); ``source``: where
    it came from, for the message."""
    from annotator.text import name_problem

    problem = name_problem(name)
    if problem is not None:
        raise AnnotatorError(f"{source} {shown(name)}: {problem}")
    return name


def check_annotator_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """The callback of an ``--annotator`` option: its value (or default) checked as a name."""
    if value is None:
        return None
    if ctx.get_parameter_source(param.name or "") in (ParameterSource.DEFAULT, None):
        return checked_name(value, _default_source())
    return checked_name(value)


def _default_source() -> str:
    return "$ANNOTATOR_NAME" if os.environ.get("ANNOTATOR_NAME") else "your user name"


def checked_default_annotator() -> str:
    """:func:`default_annotator`, checked as a name."""
    return checked_name(default_annotator(), _default_source())


annotator_option = click.option(
    "--annotator",
    "annotator_name",
    default=lambda: default_annotator(),
    show_default="$ANNOTATOR_NAME or your user name",
    callback=check_annotator_option,
    help="Whose decisions these are.",
)


def _engine(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from annotator.ml.engine import set_engine, set_reporter

    if value:
        set_engine(value)
    set_reporter(echo)  # a conversion made on first use says so, on its own line


engine_option = click.option(
    "--engine", type=click.Choice(["auto", "ct2", "torch"]), default=None, expose_value=False, callback=_engine,
    show_default="auto (or $ANNOTATOR_ENGINE)",
    help="Inference engine: CTranslate2 int8 where a model is converted and faithful (auto, ct2), or PyTorch.")


def _ray(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from annotator.ray_pool import LOCAL, require_ray

    named = value in (LOCAL, "auto") or "://" in value
    if not named and (Path(value).exists() or "/" in value):  # `import --ray corpus/`: the path went to --ray
        raise AnnotatorError(f"--ray took {shown(value)} for the Ray cluster's address; put --ray after the "
                             "paths, or write --ray local (this machine) or --ray HOST:6379")
    require_ray()  # one line saying what to install, before any work
    return value


ray_option = click.option(
    "--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]", callback=_ray,
    help="Compute on Ray: alone (or `local`), a Ray instance started on this machine; with an ADDRESS "
         "(auto, HOST:6379, ray://HOST:10001), the cluster started there with `ray start --head`. "
         "Needs the cluster extra: pip install -e '.[cluster]'.")


def echo_engine_notes() -> None:
    """One line for each model that runs in PyTorch rather than the int8 engine, and why."""
    from annotator.ml.engine import notes

    for line in notes():
        echo(f"note: {line}")


def echo(message: object = "", err: bool = False, nl: bool = True) -> None:
    """``click.echo`` for every line the commands print: what it quotes from outside (names,
    file names, scheme fields, corpus text) cannot reach the terminal as control sequences, and
    no line shares one with a progress bar."""
    from annotator.progress import write_line

    # through the progress helper: a line printed while a bar is on screen clears it first
    write_line(terminal_safe(str(message)), err, lambda text, to_err: click.echo(text, err=to_err, nl=nl))


def default_annotator() -> str:
    name = os.environ.get("ANNOTATOR_NAME")
    if name:
        return name
    try:
        return getpass.getuser() or "annotator"
    except Exception:  # no user name in some containers
        return "annotator"


def open_store(db_path: Path) -> Store:
    """The project database, created if it does not exist yet (``import``, ``demo``, ``setup``)."""
    return Store.open(db_path)


def existing_db(db_path: Path) -> Path:
    """``db_path``, or one clear line if there is no database there yet."""
    if not Path(db_path).exists():
        raise AnnotatorError(f"{shown(db_path)}: no such database; run `annotator import PATH…` or "
                             "`annotator demo` first")
    return Path(db_path)


def open_existing(db_path: Path) -> Store:
    """The project database, which must exist: commands that read never create an empty one."""
    return Store.open(existing_db(db_path))

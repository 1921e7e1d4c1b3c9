"""The ``annotator`` command line: every click command lives in this package, as a thin shell
over the library (the services, corpora, export, team and ml packages). Errors are one line
on stderr with exit status 2.
"""

from __future__ import annotations

import errno
import sys

import click

from annotator import __version__
from annotator.cli.common import echo
from annotator.errors import AnnotatorError, shown


class Group(click.Group):
    """Turns any ``AnnotatorError`` (and a full disk under a file the command writes) into one
    line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AnnotatorError as exc:
            echo(f"annotator: error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise
            # a file the command writes (an export, a model's weights, a conversion) found no room
            where = f"{shown(exc.filename)}: " if exc.filename else ""
            echo(f"annotator: error: {where}no space left on the disk ({exc.strerror}); free some space "
                 "and run the command again", err=True)
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


def _register_commands() -> None:
    """Each module of this package lists its commands."""
    from annotator.cli import annotate, corpus, demo, export, models, team

    for module in (corpus, models, annotate, export, team, demo):
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main() -> None:
    cli(prog_name="annotator")

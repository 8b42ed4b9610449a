"""The Faust command class every operator command is built on: run without a worker, errors become exit codes.

A command is a Faust `AppCommand` (so `faust -A streamproc.app <cmd>` lists, parses and documents it),
but it is run by `asyncio.run` instead of a `mode.Worker`: no signal handlers, block detector or
one-second shutdown sentinel for a command that reads a few records, and an exit code of our choosing
(see streamproc.cli.errors) instead of mode's 0-or-1 with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, ClassVar, NoReturn

import click
from faust.cli.base import AppCommand

from streamproc.cli.errors import OK, exit_code_for
from streamproc.shared.logs import install_safe_exceptions

# Drivers that log their own retries at ERROR while a command waits; shown with `-l info` or `-l debug`.
_CHATTY = ("aiokafka", "botocore", "aiobotocore", "psycopg", "psycopg.pool")
_LEVELS = {"crit": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO}
_LEVELS["debug"] = logging.DEBUG


class OperatorCommand(AppCommand):
    """Base of the operator commands: `app.command(..., base=OperatorCommand)`."""

    abstract: ClassVar[bool] = True

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._configure_logging()
        try:
            # As Command.run_using_worker does: the parsed options were kept by __init__.
            asyncio.run(self.execute(*self.args, *args, **{**self.kwargs, **kwargs}))
        except click.ClickException as exc:
            if isinstance(exc, click.UsageError) and exc.ctx is None:
                exc.ctx = self.ctx
            exc.show()
            raise SystemExit(exc.exit_code) from None
        except (Exception, KeyboardInterrupt) as exc:
            code = exit_code_for(exc)
            if code is None:
                raise
            if not isinstance(exc, KeyboardInterrupt):
                click.echo(f"{self.ctx.command_path}: {exc}", file=self.stderr)
            raise SystemExit(code) from None
        raise SystemExit(OK)

    def _configure_logging(self) -> None:
        level = _LEVELS.get(self.loglevel.lower(), logging.WARNING)
        logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        install_safe_exceptions()
        if level > logging.INFO:
            for name in _CHATTY:
                logging.getLogger(name).setLevel(logging.CRITICAL)

    def out(self, line: str = "") -> None:
        """One line of the command's result on stdout (also under --quiet: results are not chatter)."""
        click.echo(line, file=self.stdout)

    def note(self, line: str) -> None:
        """A remark for the operator on stderr (silenced by --quiet)."""
        if not self.quiet:
            click.echo(line, file=self.stderr)

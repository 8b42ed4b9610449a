"""Exit codes of the operator commands and the expected failures that lead to them (pure).

  0  done (a dry run included)
  1  refused or not found: unknown group, topic or file; a group with active members; a file
     that is not finished or whose bytes changed; a file that is not CSV
  2  usage or configuration error: bad arguments or settings (click's own usage errors are 2 too)
  3  a service is unavailable: Kafka, PostgreSQL or S3 did not answer
130  interrupted (Ctrl-C) where that is not the normal way to end
"""

from __future__ import annotations

from typing import ClassVar

from streamproc.shared.errors import StreamprocError
from streamproc.shared.settings import SettingsError

OK, REFUSED, USAGE, UNAVAILABLE, INTERRUPTED = 0, 1, 2, 3, 130


class CommandError(Exception):
    """An expected failure: its message is printed as is, without a traceback, and the process exits `code`."""

    code: ClassVar[int] = REFUSED


class Refused(CommandError):
    """The command understood the request and will not do it."""


class NotFound(CommandError):
    """No such file, group or topic."""


class BadUsage(CommandError):
    """Arguments that parse but do not make sense together."""

    code = USAGE


class Unavailable(CommandError):
    """A service did not answer."""

    code = UNAVAILABLE


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an expected failure; None for anything else (a bug: let it show its traceback).

    The project's own errors say whether retrying can help: a transient one means a service did not
    answer (3); a terminal one means the request was refused (1).
    """
    if isinstance(exc, CommandError):
        return exc.code
    if isinstance(exc, SettingsError):
        return USAGE
    if isinstance(exc, StreamprocError):
        return UNAVAILABLE if exc.retriable else REFUSED
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return None

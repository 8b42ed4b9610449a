"""Logging that cannot leak row values: exceptions are described by class, SQLSTATE and frames, never text."""

from __future__ import annotations

import logging
import traceback

from streamproc.shared.errors import StreamprocError


def describe(exc: BaseException) -> str:
    """The exception's class (and SQLSTATE), plus those of its causes: e.g. `DatabaseUnavailable <- OperationalError`.

    Driver messages are left out on purpose: PostgreSQL's can quote the value it refused. The project's
    own errors (`StreamprocError`) carry messages written never to hold a value, so theirs are kept.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = type(current).__name__
        sqlstate = getattr(current, "sqlstate", None)
        if sqlstate:
            text += f" (SQLSTATE {sqlstate})"
        if isinstance(current, StreamprocError) and str(current):
            text += f": {current}"
        parts.append(text)
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def frames(exc: BaseException, limit: int = 12) -> str:
    """Where it happened: the innermost `limit` frames (file, line, function), without any message."""
    summary = traceback.extract_tb(exc.__traceback__)[-limit:]
    return " | ".join(f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} {frame.name}" for frame in summary)


class SafeExceptions(logging.Filter):
    """A handler filter: any record's traceback is rendered as `describe` + `frames`, so no handler prints
    an exception's own text (a driver's message may quote a row value), whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = f"{describe(exc)}\n  at {frames(exc)}"
        return True


def install_safe_exceptions(root: logging.Logger | None = None) -> None:
    """Put SafeExceptions on every handler of the root logger (once each)."""
    for handler in (root or logging.getLogger()).handlers:
        if not any(isinstance(f, SafeExceptions) for f in handler.filters):
            handler.addFilter(SafeExceptions())

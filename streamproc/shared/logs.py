"""Logging that cannot leak row values: exceptions are described by class, SQLSTATE and frames, never text.

Text lines by default; JSON lines (`STREAMPROC_LOG_FORMAT=json`, `BRIDGE_LOG_FORMAT=json`) for log pipelines.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Any, Literal

from streamproc.shared.errors import StreamprocError

LogFormat = Literal["text", "json"]


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


def log_format(name: str) -> LogFormat:
    """The log format a setting names (TEXT or JSON, any case; the settings check the choice)."""
    return "json" if name.lower() == "json" else "text"


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and for an exception the same safe
    rendering as SafeExceptions (`exception`: describe, `at`: frames), never the exception's text. ASCII only, so
    control characters and line separators in a key or a message can neither break a line nor forge one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line |= {"exception": describe(exc), "at": frames(exc)}
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=True, default=str)


def install_log_format(log_format: LogFormat, root: logging.Logger | None = None) -> None:
    """Safe exceptions on every handler of the root logger, and with "json" the JSON-lines formatter too.

    Call it once the process's logging is configured (Faust configures its own when the worker starts)."""
    logger = root or logging.getLogger()
    install_safe_exceptions(logger)
    if log_format == "json":
        for handler in logger.handlers:
            if not isinstance(handler.formatter, JsonLines):
                handler.setFormatter(JsonLines())


def json_logging_config() -> dict[str, Any]:
    """Faust's `logging_config` for JSON lines: its formatters replaced by JsonLines, the rest of its setup kept,
    so the worker's lines are JSON from the first one (before the pipeline starts)."""
    formatters = {name: {"()": f"{__name__}.JsonLines"} for name in ("default", "colored")}  # mode's two
    return {"version": 1, "merge": True, "formatters": formatters}

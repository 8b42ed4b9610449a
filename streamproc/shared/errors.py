"""The project's one error base: every error raised on purpose says whether retrying can help (pure)."""

from __future__ import annotations

from typing import ClassVar


class StreamprocError(Exception):
    """Base of the project's own errors; `retriable` is true when the same call may succeed later."""

    retriable: ClassVar[bool] = False


class TransientError(StreamprocError):
    """The service is not there right now (unreachable, throttled, shutting down): retry in place."""

    retriable = True


class TerminalError(StreamprocError):
    """The request or the data itself is refused: retrying cannot help; dead-letter or fail."""

    retriable = False


def is_transient(exc: BaseException) -> bool:
    """True for the project's transient errors only: a foreign exception is never assumed retriable."""
    return isinstance(exc, StreamprocError) and exc.retriable

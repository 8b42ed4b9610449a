"""Why a whole object is refused (pure): the parser raises these, the fan-out records and dead-letters them."""

from __future__ import annotations

from streamproc.shared.errors import TerminalError


class FileRejected(TerminalError):
    """The whole object is refused: `reason` says why in words (never a cell's value), `error_class` names the kind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def error_class(self) -> str:
        return type(self).__name__


class EmptyObject(FileRejected):
    """The object has no bytes."""


class NoHeader(FileRejected):
    """The object has bytes but no header row."""


class BadHeader(FileRejected):
    """The header row is unreadable: not UTF-8, too large, or a dataset column repeated."""


class UnknownDataset(FileRejected):
    """No dataset claims the object by key prefix, file name or header."""


class MissingColumns(FileRejected):
    """The header lacks required columns of the recognised dataset; the reason names them."""


class BadGzip(FileRejected):
    """A `.gz` object is not a complete gzip stream."""

"""Why a whole object is refused (pure): the parser raises these, the fan-out records and dead-letters them; and
which rule a record the csv module refused breaks."""

from __future__ import annotations

from dataclasses import dataclass

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


class OverLimit(FileRejected):
    """The object is past one of the parser's caps (decompressed size, compression ratio, rows): a bomb or a
    runaway export; the reason names the cap and its setting. Rows before the cap may have been published."""


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one file may cost the worker (settings STREAMPROC_MAX_*; see worker.settings)."""

    inflated_bytes: int = 16 << 30  # decompressed size of a .gz object
    ratio: float = 200.0  # decompressed / compressed bytes, checked once `ratio_after` bytes are inflated
    ratio_after: int = 8 << 20
    rows: int = 50_000_000  # records (valid or rejected) per file
    record_bytes: int = 1 << 20  # a longer record is rejected without being held in memory


def csv_rule(exc: Exception, *, one_line: bool = True) -> tuple[str, str]:
    """The rule a record the csv module refused breaks, and what the dead letter says (never a value); a quote
    that closed on a later line than the record began on was a stray quote left open (csv_syntax)."""
    text = str(exc)
    if "field limit" in text:
        return "record_too_large", f"is not valid CSV: {text}"
    if "expected after" in text and not one_line:
        return "csv_syntax", "opens a quoted field that does not close properly (a stray quote)"
    if "expected after" in text:
        return (
            "text_after_closing_quote",
            "has text after a closing quote (RFC 4180: a quoted field ends at a delimiter)",
        )
    return "csv_syntax", f"is not valid CSV: {text}"

"""The file ledger's vocabulary (pure): statuses, what the fan-out counted, where a row came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

RECEIVED: Final = "RECEIVED"
PROCESSING: Final = "PROCESSING"
COMPLETED: Final = "COMPLETED"
PARTIAL: Final = "PARTIAL"
FAILED: Final = "FAILED"
FINAL: Final = (COMPLETED, PARTIAL, FAILED)


@dataclass(frozen=True, kw_only=True)
class SplitCounts:
    """What the fan-out stage saw in one file."""

    dataset: str | None
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    unknown_columns: int = 0


@dataclass(frozen=True, kw_only=True)
class RowRef:
    """Where one row came from: enough to find its file in the ledger."""

    bucket: str
    key: str
    version: str
    line: int

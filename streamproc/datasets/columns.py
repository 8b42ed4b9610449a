"""A dataset's columns and its checks across columns (pure): what the model and the fast path are built from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamproc.contract.events import FieldError
from streamproc.datasets.spec import Rule


@dataclass(frozen=True)
class RowCheck:
    """A check across fields of one row, given the typed values of the fields it `reads` that passed their
    own rules (a field that failed, or is blank, reads as None); returns the broken rule or None.

    `passes_fast`, if given, sees the fast path's values of `reads` (canonical text for text-matched
    columns) and returns True when the check cannot fail for them, which spares typing them per row.
    """

    reads: tuple[str, ...]
    check: Callable[[Mapping[str, object]], FieldError | None]
    passes_fast: Callable[..., bool] | None = None

    def __call__(self, row: Mapping[str, object]) -> FieldError | None:
        return self.check(row)


@dataclass(frozen=True)
class Column:
    """One CSV column and the table column it lands in; `rule` turns its trimmed text into the typed value."""

    name: str
    pg_type: str  # e.g. "text", "date", "char(11)", "numeric(12,3)", "smallint", "timestamptz", "inet"
    required: bool
    rule: Rule[Any] = field(repr=False, compare=False)

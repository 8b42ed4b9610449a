"""A dataset's columns and its checks across columns (pure): what the model and the fast path are built from."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamproc.contract.events import FieldError
from streamproc.datasets.spec import Rule

_NUMERIC = re.compile(r"numeric(?:\((\d+)(?:,\s*(\d+))?\))?")
_INTEGERS = frozenset({"smallint", "integer", "bigint"})
_ANY_SCALE = 16383  # a bare `numeric` keeps any number of decimal places (PostgreSQL's limit)


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

    @property
    def scale(self) -> int | None:
        """Decimal places of a numeric column (0 for an integer type); None if the column is not a number."""
        if match := _NUMERIC.fullmatch(self.pg_type):
            if match.group(1) is None:
                return _ANY_SCALE
            return int(match.group(2) or 0)
        return 0 if self.pg_type in _INTEGERS else None

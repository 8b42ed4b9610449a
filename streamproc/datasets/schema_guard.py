"""Which published-schema constraints the fast path must still check per field, decided once per dataset (pure).

The slow path re-checks every row against the row type (msgspec.Meta: lengths, patterns, ranges, tz,
literals), so no row leaves that a consumer decoding the topic would refuse. The fast path keeps that
promise per column: an Exact column whose accepted texts imply the field's constraints needs nothing; any
other constrained field is checked with `msgspec.convert` (Memo columns once per distinct text).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import inspect as mi

from streamproc.datasets.spec import Exact

Guard = Callable[[Any], bool]  # True when the value satisfies the field's published constraints


def field_types(row_type: type[msgspec.Struct]) -> dict[str, Any]:
    """The row type's annotated field types (with their Meta), by field name."""
    return typing.get_type_hints(row_type, include_extras=True)


def _bare(info: mi.Type) -> mi.Type:
    """The constrained type under Metadata wrappers and an optional's `| None`."""
    while True:
        if isinstance(info, mi.Metadata):
            info = info.type
        elif isinstance(info, mi.UnionType):
            kinds = [t for t in info.types if not isinstance(t, mi.NoneType)]
            if len(kinds) != 1:
                return info
            info = kinds[0]
        else:
            return info


_NUMBER_BOUNDS = ("gt", "ge", "lt", "le", "multiple_of")


def implied(exact: Exact, annotated: Any) -> bool:
    """True when every text `exact` accepts satisfies the field's constraints (so no per-row check)."""
    info = _bare(mi.type_info(annotated))
    if isinstance(info, mi.StrType):
        low, high = exact.lengths or (None, None)
        return (
            (info.min_length is None or (low is not None and low >= info.min_length))
            and (info.max_length is None or (high is not None and high <= info.max_length))
            and (info.pattern is None or info.pattern in exact.patterns)
        )
    if isinstance(info, mi.DecimalType | mi.IntType | mi.FloatType):
        return all(getattr(info, bound, None) is None for bound in _NUMBER_BOUNDS)
    return False


def unconstrained(annotated: Any) -> bool:
    """True when the field's type alone is the whole contract (no Meta constraint, no literal set)."""
    info = _bare(mi.type_info(annotated))
    if isinstance(info, mi.StrType):
        return info.min_length is None and info.max_length is None and info.pattern is None
    if isinstance(info, mi.DecimalType | mi.IntType | mi.FloatType):
        return all(getattr(info, bound, None) is None for bound in _NUMBER_BOUNDS)
    if isinstance(info, mi.DateTimeType | mi.TimeType):
        return info.tz is None
    return isinstance(info, mi.DateType | mi.BoolType)


def guard(annotated: Any) -> Guard:
    """A check of one value against the field's published type and constraints."""

    def satisfies(value: Any) -> bool:
        try:
            msgspec.convert(value, annotated)
        except msgspec.ValidationError:
            return False
        return True

    return satisfies


def text_row_type(row_type: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The row type as a sink reads it: whole numbers and booleans typed, everything else (decimals, dates,
    times, text) left as the JSON's text, and no constraint re-checked: PostgreSQL's column types parse it."""
    fields: list[tuple[str, Any]] = []
    info_of_row = mi.type_info(row_type)
    if not isinstance(info_of_row, mi.StructType):
        msg = f"{row_type!r} is not a msgspec Struct"
        raise TypeError(msg)
    for f in info_of_row.fields:
        info = f.type.type if isinstance(f.type, mi.Metadata) else f.type
        optional = isinstance(info, mi.UnionType) and any(isinstance(t, mi.NoneType) for t in info.types)
        kind: Any = (
            int if isinstance(_bare(info), mi.IntType) else bool if isinstance(_bare(info), mi.BoolType) else str
        )
        fields.append((f.name, kind | None if optional else kind))
    return msgspec.defstruct(f"{row_type.__name__}Text", fields, frozen=True, forbid_unknown_fields=True, gc=False)

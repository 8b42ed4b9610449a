"""Datasets as data: recognition, row schema and rules, topic, table, natural key; and reading one CSV row."""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from streamproc.contract.events import ENCODER, FieldError, Provenance, RowEvent, row_event_type, text_event_type
from streamproc.datasets.columns import Column, RowCheck
from streamproc.datasets.controls import ControlPolicy
from streamproc.datasets.fast import FastRows
from streamproc.datasets.rules import Rule, Violation
from streamproc.datasets.schema_guard import text_row_type
from streamproc.shared.phi import UNMAPPED_ROW, masked_csv

__all__ = ["Column", "Dataset", "Layout", "RejectedRow", "RowCheck", "Rule", "ValidRow"]

UNDECODABLE = re.compile("[\udc80-\udcff]")  # what undecodable bytes become under surrogateescape


_NAME = re.compile("[a-z_][a-z0-9_]*")


class ValidRow(msgspec.Struct, frozen=True, gc=False):
    """A row that passed every rule, ready to produce: its natural key and the row's JSON (the row type's
    encoding). `line` is the physical line its record starts on (the header is line 1)."""

    line: int
    key: bytes
    row_json: bytes


class RejectedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row that broke rules: every broken rule, the kind of failure, and the raw row with PHI masked."""

    line: int
    errors: tuple[FieldError, ...]
    error_class: str  # InvalidRow, InvalidEncoding or MalformedRow
    raw_masked: str

    @classmethod
    def unmapped(cls, line: int, rule: str, message: str) -> RejectedRow:
        """A record that cannot be laid over the header: none of it is shown, so no PHI can leak."""
        error = FieldError(field="_row", rule=rule, message=message)
        return cls(line=line, errors=(error,), error_class="MalformedRow", raw_masked=UNMAPPED_ROW)


@dataclass(frozen=True, kw_only=True)
class Dataset:
    """One ingested file kind. Adding a dataset is one module that defines a module-level `DATASET`."""

    name: str
    topic: str
    table: str
    natural_key: str
    key_prefixes: tuple[str, ...]
    filename_patterns: tuple[str, ...]  # fnmatch on the key's base name, case-insensitive
    columns: tuple[Column, ...]  # in row order; the row_type has exactly these fields, in this order
    row_type: type[msgspec.Struct]
    phi_fields: frozenset[str] = frozenset()
    conflict: Literal["latest_wins", "append_only"] = "latest_wins"
    row_checks: tuple[RowCheck, ...] = ()
    controls: ControlPolicy = field(default_factory=ControlPolicy)  # file-level controls; none by default
    # Derived once: the topic's value type RowEvent[row_type] and its one decoder.
    event_type: Any = field(init=False, repr=False, compare=False)
    event_decoder: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)
    row_decoder: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)
    text_decoder: msgspec.json.Decoder[Any] = field(init=False, repr=False, compare=False)  # what sinks decode
    fast: FastRows = field(init=False, repr=False, compare=False)
    _plan: tuple[tuple[str, bool, Rule[Any]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = tuple(c.name for c in self.columns)
        problems = [f"column name {n!r} is not a lower-case identifier" for n in names if not _NAME.fullmatch(n)]
        if len(set(names)) != len(names):
            problems.append("column names repeat")
        if tuple(f.name for f in msgspec.structs.fields(self.row_type)) != names:
            problems.append(f"{self.row_type.__name__} fields differ from the columns {names}")
        if self.natural_key not in self.required_columns:
            problems.append(f"natural key {self.natural_key!r} is not a required column")
        if not self.phi_fields <= set(names):
            problems.append(f"PHI fields {sorted(self.phi_fields - set(names))} are not columns")
        if unknown := sorted({r for check in self.row_checks for r in check.reads} - set(names)):
            problems.append(f"row checks read {unknown}, which are not columns")
        scales = {c.name: c.scale for c in self.columns}
        for controls in (self.controls.default, *(c for _, c in self.controls.by_prefix)):
            problems.extend(controls.check_columns(scales))
        if problems:
            msg = f"dataset {self.name!r}: " + "; ".join(problems)
            raise ValueError(msg)
        event_type = row_event_type(self.row_type)
        object.__setattr__(self, "event_type", event_type)
        object.__setattr__(self, "event_decoder", msgspec.json.Decoder(event_type))
        object.__setattr__(self, "row_decoder", msgspec.json.Decoder(self.row_type))
        text_type = text_event_type(self.row_type.__name__, text_row_type(self.row_type))
        object.__setattr__(self, "text_decoder", msgspec.json.Decoder(text_type))
        object.__setattr__(self, "_plan", tuple((c.name, c.required, c.rule) for c in self.columns))
        fast = FastRows(columns=self.columns, row_type=self.row_type, key=self.natural_key, row_checks=self.row_checks)
        object.__setattr__(self, "fast", fast)

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.required)

    def validate(self, values: Mapping[str, str]) -> msgspec.Struct | tuple[FieldError, ...]:
        """The typed row, or every broken rule of it. Values are keyed by lower-case column name.

        Surrounding whitespace is trimmed; a missing or blank optional field is None.
        """
        return self.validate_fields([values.get(name, "") for name, _, _ in self._plan])

    def validate_fields(self, fields: Sequence[str]) -> msgspec.Struct | tuple[FieldError, ...]:
        """As validate, with the values given in column order (the parser's fast path)."""
        out: dict[str, object] = {}
        errors: list[FieldError] = []
        for (name, required, rule), raw in zip(self._plan, fields, strict=True):
            value = raw.strip()
            if not value:
                if required:
                    errors.append(FieldError(field=name, rule="required", message="is required"))
                else:
                    out[name] = None
                continue
            try:
                out[name] = rule(value)
            except Violation as exc:
                errors.append(FieldError(field=name, rule=exc.rule, message=exc.message))
        errors.extend(error for check in self.row_checks if (error := check(out)) is not None)
        if errors:
            return tuple(errors)
        return self._build(out)

    def _build(self, out: dict[str, object]) -> msgspec.Struct | tuple[FieldError, ...]:
        # msgspec re-checks the published schema (lengths, patterns, ranges, enums, __post_init__), so no
        # row leaves here that a consumer decoding the topic would refuse.
        try:
            return msgspec.convert(out, self.row_type)
        except msgspec.ValidationError as exc:
            _, at_field, path = str(exc).rpartition("`$.")
            where = path.rstrip("`") if at_field else "_row"
            return (FieldError(field=where, rule="schema", message="does not match the published row schema"),)

    def layout(self, header: Sequence[str]) -> Layout:
        """How a file's header (names trimmed and lower-cased) lines up with this dataset's columns."""
        names = tuple(header)
        known = set(self.column_names)
        positions = tuple(names.index(n) if n in names else len(names) for n in self.column_names)
        return Layout(
            dataset=self,
            names=names,
            missing=tuple(c.name for c in self.columns if c.required and c.name not in names),
            repeated=tuple(sorted({n for n in names if n in known and names.count(n) > 1})),
            unknown=tuple(n for n in names if n not in known),
            complete=len(names) not in positions,
            pick=operator.itemgetter(*positions) if len(positions) > 1 else lambda f: (f[positions[0]],),
            # Unknown columns are masked too: nothing says what they hold.
            masked=frozenset(i for i, n in enumerate(names) if n in self.phi_fields or n not in known),
        )

    def row_values(self, row: msgspec.Struct) -> tuple[Any, ...]:
        """The row's values in column order, ready for COPY."""
        return msgspec.structs.astuple(row)

    def key_of(self, row: msgspec.Struct) -> str:
        """The natural key's value: the Kafka message key and the table's primary key."""
        return str(getattr(row, self.natural_key))

    def event(self, row: msgspec.Struct, provenance: Provenance) -> RowEvent[Any]:
        """The value to produce on this dataset's topic."""
        return RowEvent(dataset=self.name, provenance=provenance, row=row)


@dataclass(frozen=True, kw_only=True)
class Layout:
    """One file's header laid over a dataset: what is missing, repeated or unknown, and how to read a row."""

    dataset: Dataset
    names: tuple[str, ...]
    missing: tuple[str, ...]  # required columns the header lacks
    repeated: tuple[str, ...]  # dataset columns the header names more than once
    unknown: tuple[str, ...]  # header names the dataset does not know (ignored)
    complete: bool  # every column of the dataset is in the header
    pick: Callable[[Sequence[str]], Sequence[str]] = field(repr=False)  # row fields -> values in column order
    masked: frozenset[int] = field(repr=False)  # positions shown as *** in raw rows

    def validate(self, fields: Sequence[str]) -> msgspec.Struct | tuple[FieldError, ...]:
        """Validate one CSV row given in header order; a column the header lacks reads as empty."""
        return self.dataset.validate_fields(self.pick(fields if self.complete else [*fields, ""]))

    def fast_row(self, line: int, fields: Sequence[str]) -> ValidRow | None:
        """The row if the fast path accepts it (a clean record with the header's field count), else None."""
        if len(fields) != len(self.names):
            return None
        accepted = self.dataset.fast.encode(self.pick(fields if self.complete else [*fields, ""]))
        return None if accepted is None else ValidRow(line, accepted[0], accepted[1])

    def row(self, line: int, fields: Sequence[str], *, dirty: bool = False) -> ValidRow | RejectedRow:
        """One CSV record in header order -> a valid row or a reject. `dirty`: it may hold undecodable bytes."""
        if len(fields) != len(self.names):
            message = f"has {len(fields)} fields where the header has {len(self.names)}"
            return RejectedRow.unmapped(line, "field_count", message)
        if dirty and (bad := [n for n, v in zip(self.names, fields, strict=True) if UNDECODABLE.search(v)]):
            errors = tuple(FieldError(field=n, rule="utf8", message="is not valid UTF-8") for n in bad)
            return RejectedRow(
                line=line, errors=errors, error_class="InvalidEncoding", raw_masked=self.raw_masked(fields)
            )
        result = self.validate(fields)
        if isinstance(result, tuple):
            return RejectedRow(line=line, errors=result, error_class="InvalidRow", raw_masked=self.raw_masked(fields))
        return ValidRow(line, self.dataset.key_of(result).encode(), ENCODER.encode(result))

    def raw_masked(self, fields: Sequence[str]) -> str:
        """The row as CSV with PHI (and unknown) fields masked: what a dead letter may show of it."""
        return masked_csv(fields, self.masked)

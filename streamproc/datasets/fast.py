"""The fast path of row validation, compiled from a dataset's rules (pure).

Each column is checked in its rule's cheapest exact form (`spec.Exact`, `Memo` or `Call`): every Exact
column of a row is matched by one combined regex, Memo columns look their verdict up per distinct text,
Call columns run their check. The fast path only ever *accepts*: a row it does not take goes to the
authoritative slow path (`Layout.row`), which lists every broken rule. It accepts nothing the slow path
refuses, and encodes what it accepts to the same bytes; tests/unit/datasets/test_fast_path.py checks that
differentially, and the parser re-checks a sample of rows against the slow path while it runs.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from streamproc.contract.events import ENCODER
from streamproc.datasets.columns import Column, RowCheck
from streamproc.datasets.schema_guard import Guard, field_types, guard, implied, unconstrained
from streamproc.datasets.spec import Call, Exact, Memo, Violation

SEP = "\x1f"  # joins a row's Exact fields for the combined regex; no Exact pattern matches it
_CACHE_LIMIT = 4096


class _Verdicts(dict[str, Any]):
    """text -> the check's value, or None where it (or the schema) refused: one call per distinct text, then a
    C look-up."""

    def __init__(self, check: Callable[[str], Any], schema: Guard | None) -> None:
        super().__init__()
        self._check = check
        self._schema = schema

    def __missing__(self, text: str) -> Any:
        try:
            value = self._check(text)
        except Violation:
            value = None
        if value is not None and self._schema is not None and not self._schema(value):
            value = None
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[text] = value
        return value


class FastRows:
    """A dataset's compiled fast path: `encode(fields in column order)` -> (key, row JSON), or None."""

    def __init__(
        self,
        *,
        columns: Sequence[Column],
        row_type: type[msgspec.Struct],
        key: str,
        row_checks: Sequence[RowCheck],
    ) -> None:
        self.index = {c.name: i for i, c in enumerate(columns)}
        self.optional = [i for i, c in enumerate(columns) if not c.required]
        self.required = frozenset(i for i, c in enumerate(columns) if c.required)
        exact = [(i, c.rule.fast, c.required) for i, c in enumerate(columns) if isinstance(c.rule.fast, Exact)]
        # An Exact column holds canonical text; a row check gets its typed value (the check's, or `typed`).
        typed = {i: fast.typed or columns[i].rule.check for i, fast, _ in exact}
        self.prepares = [(i, fast.prepare) for i, fast, _ in exact if fast.prepare is not None]
        self.accepts = [(i, fast.accept) for i, fast, _ in exact if fast.accept is not None]
        types = field_types(row_type)
        schema = {c.name: None if unconstrained(types[c.name]) else guard(types[c.name]) for c in columns}
        self.memos = [
            (i, _Verdicts(c.rule.check, schema[c.name])) for i, c in enumerate(columns) if isinstance(c.rule.fast, Memo)
        ]
        self.calls = [(i, c.rule.check, schema[c.name]) for i, c in enumerate(columns) if isinstance(c.rule.fast, Call)]
        # Exact columns whose accepted texts do not imply the published constraints are checked per row.
        self.guards = [
            (i, guard(types[columns[i].name])) for i, fast, _ in exact if not implied(fast, types[columns[i].name])
        ]
        self.regex = re.compile(SEP.join(f"(?:{f.pattern})" if req else f"(?:{f.pattern})?" for _, f, req in exact))
        self.exact_fields = _picker([i for i, _, _ in exact])
        self.key_index = self.index[key]
        self.row_checks = [
            (check, [(name, self.index[name], typed.get(self.index[name])) for name in check.reads])
            for check in row_checks
        ]
        # Encodes like the row type (same field names, same order); values are what the checks return.
        self.wire = msgspec.defstruct(f"{row_type.__name__}Wire", [(c.name, object) for c in columns])

    def encode(self, fields: Sequence[str]) -> tuple[bytes, bytes] | None:
        """The row's key and JSON when the fast path accepts every field; None sends it to the slow path."""
        values = self.values(fields)
        if values is None:
            return None
        key = values[self.key_index]
        return (key if isinstance(key, str) else str(key)).encode(), ENCODER.encode(self.wire(*values))

    def values(self, fields: Sequence[str]) -> list[Any] | None:
        v: list[Any] = [f.strip() for f in fields]
        if "" in v and any(not v[i] for i in self.required):
            return None
        for i, verdicts in self.memos:
            if v[i]:
                v[i] = verdicts[v[i]]
                if v[i] is None:
                    return None
        for i, prepare in self.prepares:
            v[i] = prepare(v[i])
        if self.regex.fullmatch(SEP.join(self.exact_fields(v))) is None:
            return None
        for i, accept in self.accepts:
            if v[i] and not accept(v[i]):
                return None
        for i, satisfies in self.guards:
            if v[i] and not satisfies(v[i]):
                return None
        if not self._called(v):
            return None
        for i in self.optional:
            if v[i] == "":
                v[i] = None
        for check, reads in self.row_checks:
            if check.passes_fast is not None and check.passes_fast(*(v[i] for _, i, _ in reads)):
                continue
            row = {name: (v[i] if to_type is None or v[i] is None else to_type(v[i])) for name, i, to_type in reads}
            if check(row) is not None:
                return None
        return v

    def _called(self, v: list[Any]) -> bool:
        for i, check, schema in self.calls:
            if v[i]:
                try:
                    v[i] = check(v[i])
                except Violation:
                    return False
                if schema is not None and not schema(v[i]):
                    return False
        return True


def _picker(indexes: list[int]) -> Callable[[list[Any]], Sequence[str]]:
    if not indexes:
        return lambda _values: ()
    if len(indexes) == 1:
        return lambda values: (values[indexes[0]],)
    return operator.itemgetter(*indexes)

"""The bad-input corpus as data: the manifest's case model, the recipes of big inputs, the rule ids to cover."""

from __future__ import annotations

import ast
import inspect
import textwrap
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streamproc.datasets import samples

CORPUS = Path(__file__).parents[1] / "data" / "corpus"
CLAIM_HEADER = ",".join(samples.CLAIM_HEADER)
GOOD_CLAIM = "{id},M0000001,RX1,2026-01-05,12345-6789-01,Aspirin,30,30,1234567893,1234567893,10.00,1.50,2.00,9.50,PAID"
MEMBER_ID = "M0000001"  # the PHI of every corpus claim: masked in every dead letter


class Reject(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line: int
    error_class: str
    field: str
    rule: str


class Stored(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str  # the row's natural key
    column: str
    value: str
    type: str | None = None


class Case(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What every case has: a name, a description, where its input comes from; a known bug makes it an xfail."""

    id: str
    what: str
    recipe: str | None = None
    error_class: str | None = None
    behaviour: str | None = None
    xfail: str | None = None


class FileCase(Case, frozen=True, kw_only=True, forbid_unknown_fields=True):
    key: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_dead_lettered: int
    file: str | None = None
    summary: str | None = None
    rejects: tuple[Reject, ...] = ()
    unknown_columns: int = 0
    stored: tuple[Stored, ...] = ()

    def body(self) -> bytes:
        return FILE_RECIPES[self.recipe]() if self.recipe else (CORPUS / (self.file or "")).read_bytes()


class NotificationCase(Case, frozen=True, kw_only=True, forbid_unknown_fields=True):
    events: int
    dead_letters: int
    body: str | None = None
    reason: str | None = None
    marker: str | None = None

    def text(self) -> str:
        return NOTIFICATION_RECIPES[self.recipe]() if self.recipe else (CORPUS / (self.body or "")).read_text()


def claim(ident: str, **fields: str) -> str:
    values = dict(zip(CLAIM_HEADER.split(","), GOOD_CLAIM.format(id=ident).split(","), strict=True)) | fields
    return ",".join(values.values())


def claims_file(*rows: str, header: str = CLAIM_HEADER) -> bytes:
    return "\n".join([header, *rows, ""]).encode()


EXTRA = [f"extra_{n:04d}" for n in range(10_000 - 15)]
FILE_RECIPES: dict[str, Callable[[], bytes]] = {
    "one_mb_field": lambda: claims_file(claim("OM-1"), claim("OM-2", drug_name="A" * 1_000_000), claim("OM-3")),
    "two_mib_multiline_field": lambda: claims_file(
        claim("BM-1"), claim("BM-2", drug_name='"' + "A\n" * 1_100_000 + '"'), claim("BM-3")
    ),
    "ten_thousand_columns": lambda: claims_file(
        *(claim(f"TC-{n}") + ",x" * len(EXTRA) for n in (1, 2)), header=",".join([CLAIM_HEADER, *EXTRA])
    ),
    "row_of_ten_thousand_fields": lambda: claims_file(claim("TF-1"), claim("TF-2") + ",x" * len(EXTRA), claim("TF-3")),
}
_BROKEN = '{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "PHIMANYZ%d.csv"}}}'
NOTIFICATION_RECIPES: dict[str, Callable[[], str]] = {
    "huge_garbage": lambda: "PHIHUGE1Z " + "not json " * 27_000,
    "huge_record": lambda: '{"Records": [{"padding": "' + "PHIHUGE2Z " * 25_000 + '"}]}',
    "deeply_nested_json": lambda: '{"PHIDEEPZ": 1, "Records": [' + "[" * 1000 + "]" * 1000 + "]}",
    "many_broken_records": lambda: '{"Records": [' + ", ".join(_BROKEN % n for n in range(300)) + "]}",
}

MANIFEST = tomllib.loads((CORPUS / "manifest.toml").read_text())
FILE_CASES = msgspec.convert(MANIFEST["file"], tuple[FileCase, ...])
NOTIFICATION_CASES = msgspec.convert(MANIFEST["notification"], tuple[NotificationCase, ...])


def params(cases: Iterable[Case]) -> list[Any]:
    """One test per case; a case naming a known bug is a strict xfail."""
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c in cases
    ]


def flat(line: int, error_class: str, errors: Iterable[Any]) -> list[Reject]:
    """One Reject per broken rule of a row (`errors`: FieldErrors or their JSON)."""
    plain = msgspec.to_builtins(list(errors))
    return [Reject(line=line, error_class=error_class, field=e["field"], rule=e["rule"]) for e in plain]


def by_line(rejects: Iterable[Reject]) -> list[Reject]:
    return sorted(rejects, key=lambda r: (r.line, r.field, r.rule))


def rule_ids(check: Callable[..., Any], seen: set[Callable[..., Any]] | None = None) -> set[str]:
    """The rule ids a check can report: Violation(...) and FieldError(rule=...) in it and the functions it calls."""
    seen = seen if seen is not None else set()
    seen.add(check)
    names = inspect.getclosurevars(check)
    scope = {**names.globals, **names.nonlocals}
    found: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(check)))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        named = [k.value for k in node.keywords if k.arg == "rule"]  # FieldError(rule=...)
        for arg in (node.args[:1] if node.func.id == "Violation" else []) + named:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
        callee = scope.get(node.func.id)
        if inspect.isfunction(callee) and callee.__module__ == check.__module__ and callee not in seen:
            found |= rule_ids(callee, seen)
    return found

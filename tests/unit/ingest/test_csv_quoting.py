"""Malformed quoting is rejected, never loaded altered; quotes the contract allows load exactly as written."""

from __future__ import annotations

import csv
import types
from collections.abc import Iterable
from typing import Any

import pytest

from streamproc.ingest import parsing
from streamproc.ingest.parsing import Parsed, RejectedRow
from tests.unit.ingest.test_parsing import claim, claims_file, lines_and_kinds, parse, row

CELL = "Hey, I missed "


def rejected(items: list[Parsed]) -> list[RejectedRow]:
    return [item for item in items if isinstance(item, RejectedRow)]


def assert_no_cell_value_in(reject: RejectedRow, *values: str) -> None:
    texts = [e.message for e in reject.errors] + [e.rule for e in reject.errors]
    assert not any(value in text for value in values for text in texts)


def text_after_closing_quote() -> bytes:
    bad = row(2, drug_name="PLACEHOLDER").replace("PLACEHOLDER", '"Hey, I missed " it"', 1)
    return claims_file(row(1), bad, row(3))


@pytest.mark.parametrize("step", [None, 1, 7])
def test_text_after_a_closing_quote_rejects_the_row_and_loads_the_rows_around_it(step: int | None) -> None:
    items, parser = parse(text_after_closing_quote(), step=step)
    assert lines_and_kinds(items) == [(2, "ok"), (3, "text_after_closing_quote"), (4, "ok")]
    assert (parser.rows_read, parser.rows_valid, parser.rows_rejected) == (3, 2, 1)
    assert_no_cell_value_in(rejected(items)[0], CELL, "missed", " it")


def test_a_space_after_a_closing_quote_rejects_the_row() -> None:
    bad = row(2, drug_name="QUOTED").replace("QUOTED", '"Amox" ', 1)
    items, _ = parse(claims_file(row(1), bad, row(3)))
    assert lines_and_kinds(items) == [(2, "ok"), (3, "text_after_closing_quote"), (4, "ok")]
    assert_no_cell_value_in(rejected(items)[0], "Amox")


def test_a_quote_inside_an_unquoted_field_is_a_literal_character() -> None:
    bad = row(1, drug_name="PLACEHOLDER").replace("PLACEHOLDER", '5" tablet', 1)
    items, _ = parse(claims_file(bad, row(2)))
    assert lines_and_kinds(items) == [(2, "ok"), (3, "ok")]
    assert claim(items[0]).drug_name == '5" tablet'


def test_doubled_quotes_inside_a_quoted_field_are_one_quote() -> None:
    bad = row(1, drug_name="PLACEHOLDER").replace("PLACEHOLDER", '"say ""ahh"" twice"', 1)
    items, _ = parse(claims_file(bad))
    assert claim(items[0]).drug_name == 'say "ahh" twice'


def test_a_quoted_field_holds_newlines_and_the_next_row_keeps_its_physical_line() -> None:
    items, _ = parse(claims_file(row(1, drug_name="one\ntwo\r\nthree"), row(2)), step=7)
    assert lines_and_kinds(items) == [(2, "ok"), (5, "ok")]
    assert claim(items[0]).drug_name == "one\ntwo\r\nthree"


def test_a_stray_quote_never_closed_makes_the_rest_one_rejected_record() -> None:
    bad = row(2, drug_name="PLACEHOLDER").replace("PLACEHOLDER", '"Amox', 1)
    items, parser = parse(claims_file(row(1), bad, row(3), row(4)))
    assert lines_and_kinds(items) == [(2, "ok"), (3, "csv_syntax")]
    assert parser.rows_valid == 1 and parser.rows_rejected == 1
    assert_no_cell_value_in(rejected(items)[0], "Amox")


def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser as it was: csv.reader in its lenient mode (only this module's view of it is patched)."""

    def reader(lines: Iterable[str], **kwargs: Any) -> Any:
        return csv.reader(lines, **{**kwargs, "strict": False})

    monkeypatch.setattr(parsing, "csv", types.SimpleNamespace(reader=reader, Error=csv.Error))


def test_under_the_old_lenient_reader_these_cases_would_load_altered(monkeypatch: pytest.MonkeyPatch) -> None:
    lenient(monkeypatch)
    items, _ = parse(text_after_closing_quote())
    assert lines_and_kinds(items) == [(2, "ok"), (3, "ok"), (4, "ok")]
    assert claim(items[1]).drug_name == 'Hey, I missed  it"'

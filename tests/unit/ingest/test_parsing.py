"""Hostile CSV: quoting, line ends, BOM, blank lines, broken rows and bad bytes, each costing one row at most."""

from __future__ import annotations

import csv
import io

import msgspec
import pytest

from streamproc.datasets.pharmacy_claims import PharmacyClaim
from streamproc.datasets.registry import load_registry
from streamproc.ingest.parsing import CsvFileParser, Parsed, RejectedRow, ValidRow
from streamproc.ingest.rejections import BadHeader, EmptyObject, FileRejected, MissingColumns, NoHeader, UnknownDataset
from streamproc.shared.phi import UNMAPPED_ROW
from tests.unit.ingest.test_parsing_volume import CLAIM_COLUMNS, good_claim

REGISTRY = load_registry()
HEADER = ",".join(CLAIM_COLUMNS)


def row(i: int = 0, **overrides: str) -> str:
    """One claim row as a CSV line (quoted where needed), without its line end."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(good_claim(i, **overrides).values())
    return buffer.getvalue()[:-1]


def claims_file(*lines: str, newline: str = "\n", header: str = HEADER) -> bytes:
    return newline.join([header, *lines, ""]).encode()


def parse(
    data: bytes, key: str = "pharmacy_claims/f.csv", *, step: int | None = None
) -> tuple[list[Parsed], CsvFileParser]:
    parser = CsvFileParser(REGISTRY, key, gzip=False)
    step = step or max(len(data), 1)
    out = [item for start in range(0, len(data), step) for item in parser.feed(data[start : start + step])]
    return out + parser.close(), parser


def claim(item: Parsed) -> PharmacyClaim:
    """The typed claim of a valid row: its JSON decoded with the published row schema."""
    assert isinstance(item, ValidRow)
    decoded: PharmacyClaim = REGISTRY.by_name("pharmacy_claims").row_decoder.decode(item.row_json)
    return decoded


def lines_and_kinds(items: list[Parsed]) -> list[tuple[int, str]]:
    return [(i.line, "ok" if isinstance(i, ValidRow) else i.errors[0].rule) for i in items]


def test_quoted_fields_hold_commas_quotes_and_line_breaks_and_lines_are_physical() -> None:
    name = 'Amox "500" mg,\nline two\r\nline three'
    items, _ = parse(claims_file(row(1, drug_name=name), row(2)))
    first, second = items
    assert claim(first).drug_name == name
    assert [first.line, second.line] == [2, 5]  # the quoted field spans lines 2-4


def test_a_bom_and_crlf_line_ends_are_tolerated() -> None:
    items, parser = parse(b"\xef\xbb\xbf" + claims_file(row(1), row(2), newline="\r\n"))
    assert lines_and_kinds(items) == [(2, "ok"), (3, "ok")]
    assert parser.dataset is not None and parser.dataset.name == "pharmacy_claims"
    assert claim(items[1]).claim_status == "PAID"  # no stray \r in the last field


def test_blank_lines_are_skipped_and_not_counted_but_keep_their_line_numbers() -> None:
    items, parser = parse(claims_file("", row(1), "", "   ", "\t", row(2), ""))
    assert lines_and_kinds(items) == [(3, "ok"), (7, "ok")]
    assert (parser.rows_read, parser.rows_valid, parser.rows_rejected) == (2, 2, 0)


def test_blank_lines_before_the_header_are_skipped_too() -> None:
    items, _ = parse(b"\n\r\n" + claims_file(row(1)))
    assert lines_and_kinds(items) == [(4, "ok")]


def test_a_row_with_too_many_or_too_few_fields_is_rejected_never_realigned() -> None:
    items, parser = parse(claims_file(row(1) + ",extra", row(2), row(3).rsplit(",", 1)[0]))
    assert lines_and_kinds(items) == [(2, "field_count"), (3, "ok"), (4, "field_count")]
    rejected = items[0]
    assert isinstance(rejected, RejectedRow)
    assert (rejected.error_class, rejected.raw_masked) == ("MalformedRow", UNMAPPED_ROW)
    assert rejected.errors[0].message == "has 16 fields where the header has 15"
    assert (parser.rows_read, parser.rows_valid, parser.rows_rejected) == (3, 1, 2)


def test_a_row_that_is_not_utf8_is_rejected_and_the_rest_of_the_file_goes_on() -> None:
    bad = row(2, drug_name="Caf\udce9").encode("utf-8", "surrogateescape")  # a lone Latin-1 byte
    data = claims_file(row(1)) + bad + b"\n" + row(3).encode() + b"\n"
    items, parser = parse(data)
    assert lines_and_kinds(items) == [(2, "ok"), (3, "utf8"), (4, "ok")]
    rejected = items[1]
    assert isinstance(rejected, RejectedRow)
    assert (rejected.error_class, rejected.errors[0].field) == ("InvalidEncoding", "drug_name")
    assert "Caf\ufffd" in rejected.raw_masked  # the bad byte shown as U+FFFD, so the dead letter is valid JSON
    assert parser.rows_rejected == 1


def test_undecodable_bytes_in_a_phi_field_are_masked_like_any_phi() -> None:
    bad = row(2, member_id="J\udcf6rg").encode("utf-8", "surrogateescape")
    items, _ = parse(claims_file() + bad + b"\n")
    (rejected,) = items
    assert isinstance(rejected, RejectedRow)
    assert rejected.errors[0].field == "member_id"
    assert rejected.raw_masked.split(",")[1] == "***"


def test_a_rejected_row_shows_its_raw_fields_with_phi_and_unknown_columns_masked() -> None:
    header = HEADER + ",ssn"
    items, parser = parse(claims_file(row(1, member_id="JANE-DOE", ndc="1") + ",SSN-111-22-3333", header=header))
    (rejected,) = items
    assert isinstance(rejected, RejectedRow)
    assert rejected.error_class == "InvalidRow"
    assert rejected.raw_masked.startswith("CLM-00000001,***,RX1,2024-03-01,1,")
    assert rejected.raw_masked.endswith(",***")
    encoded = msgspec.json.encode(rejected).decode()
    assert "JANE" not in encoded and "SSN" not in encoded
    assert parser.unknown_columns == ("ssn",)


def test_the_masked_raw_row_is_csv_that_reads_back_to_the_masked_fields() -> None:
    name = 'two\nlines, "quoted"'
    items, _ = parse(claims_file(row(1, drug_name=name, ndc="bad", member_id="JANE")))
    (rejected,) = items
    assert isinstance(rejected, RejectedRow)
    (fields,) = csv.reader(io.StringIO(rejected.raw_masked, newline=""))
    assert fields == list(good_claim(1, drug_name=name, ndc="bad", member_id="***").values())


def test_a_huge_field_rejects_only_its_row() -> None:
    items, parser = parse(claims_file(row(1, drug_name="x" * 5000), row(2)), step=4096)
    assert lines_and_kinds(items) == [(2, "max_length"), (3, "ok")]
    assert isinstance(items[0], RejectedRow)
    assert items[0].errors[0].field == "drug_name"
    assert len(items[0].raw_masked) < 5200
    assert parser.rows_read == 2


@pytest.mark.parametrize("size", [300_000, 3_000_000])
def test_a_field_past_the_csv_or_record_limit_rejects_only_its_row(size: int) -> None:
    huge = row(1, drug_name="x" * size)
    quoted = row(2, drug_name='"' + "y\n" * (size // 2) + '"')
    items, parser = parse(claims_file(huge, row(3), quoted, row(4)), step=65536)
    assert lines_and_kinds(items) == [
        (2, "record_too_large"),
        (3, "ok"),
        (4, "record_too_large"),
        (size // 2 + 5, "ok"),
    ]
    assert parser.rows_rejected == 2


def test_a_header_only_file_has_zero_rows() -> None:
    items, parser = parse(claims_file())
    assert items == []
    assert parser.dataset is not None and parser.rows_read == 0


def test_the_last_row_needs_no_line_end() -> None:
    items, _ = parse(f"{HEADER}\n{row(1)}".encode())
    assert lines_and_kinds(items) == [(2, "ok")]


def test_a_quote_left_open_at_the_end_of_the_file_rejects_that_record() -> None:
    items, _ = parse(claims_file(row(1)) + b'CLM-2,"never closed\nmore\n')
    assert lines_and_kinds(items) == [(2, "ok"), (3, "csv_syntax")]


def test_a_stray_quote_inside_an_unquoted_field_is_a_character_and_swallows_nothing() -> None:
    items, _ = parse(claims_file(row(1, drug_name='5" tablets'), row(2)).replace(b'"5"" tablets"', b'5" tablets'))
    assert lines_and_kinds(items) == [(2, "ok"), (3, "ok")]
    assert claim(items[0]).drug_name == '5" tablets'


def test_a_bare_carriage_return_inside_a_row_rejects_that_row_only() -> None:
    items, _ = parse(claims_file(row(1, drug_name="a\rb").replace('"', ""), row(2)))
    assert lines_and_kinds(items) == [(2, "csv_syntax"), (3, "ok")]


def test_header_names_match_in_any_case_order_and_padding_and_unknown_columns_are_ignored() -> None:
    names = [f" {c.upper()} " for c in reversed(CLAIM_COLUMNS)] + ["notes"]
    values = [*reversed(list(good_claim(1).values())), "free text"]
    items, parser = parse(claims_file(",".join(f'"{v}"' for v in values), header=",".join(names)))
    (item,) = items
    assert claim(item).claim_id == "CLM-00000001"
    assert parser.unknown_columns == ("notes",)


def test_an_optional_column_missing_from_the_header_reads_as_none() -> None:
    columns = [c for c in CLAIM_COLUMNS if c != "drug_name"]
    values = good_claim(1)
    del values["drug_name"]
    items, _ = parse(claims_file(",".join(values.values()), header=",".join(columns)))
    (item,) = items
    assert claim(item).drug_name is None


def test_an_empty_object_fails_as_empty() -> None:
    with pytest.raises(EmptyObject):
        parse(b"")


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\n\n\r\n", b"  \n"])
def test_an_object_of_only_a_bom_or_blank_lines_has_no_header(data: bytes) -> None:
    with pytest.raises(NoHeader):
        parse(data)


def test_a_file_no_dataset_claims_fails_with_the_key_in_the_reason_but_never_its_first_line() -> None:
    with pytest.raises(UnknownDataset) as caught:
        parse(b"alpha,bravo,charlie\n1,2,3\n", key="drop/mystery.csv")
    assert "drop/mystery.csv" in caught.value.reason
    assert "3 column(s)" in caught.value.reason
    assert not {"alpha", "bravo", "charlie"} & set(caught.value.reason.replace(",", " ").split())
    assert caught.value.error_class == "UnknownDataset"
    assert caught.value.retriable is False


def test_a_missing_required_column_fails_the_file_naming_every_missing_column() -> None:
    header = ",".join(c for c in CLAIM_COLUMNS if c not in {"ndc", "copay", "drug_name"})
    with pytest.raises(MissingColumns, match="ndc, copay"):
        parse(claims_file(header=header))


def test_a_repeated_column_fails_the_file() -> None:
    with pytest.raises(BadHeader, match="repeats the column"):
        parse(claims_file(header=HEADER + ",NDC"))


def test_a_header_that_is_not_utf8_fails_the_file() -> None:
    with pytest.raises(BadHeader, match="not valid UTF-8"):
        parse(b"claim_id,\xff\xfe\n")


def test_a_failed_parser_keeps_failing_and_a_closed_one_refuses_more_bytes() -> None:
    parser = CsvFileParser(REGISTRY, "drop/x.csv", gzip=False)
    with pytest.raises(UnknownDataset):
        parser.feed(b"a,b\n")
    with pytest.raises(FileRejected):
        parser.feed(b"1,2\n")
    parser = CsvFileParser(REGISTRY, "pharmacy_claim.csv", gzip=False)
    parser.feed(claims_file())
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed(b"")


HOSTILE = (
    b"\xef\xbb\xbf"
    + claims_file(row(1, drug_name='a "quoted", multi\r\nline name'), "", row(2), newline="\r\n")
    + row(3, drug_name="bad \udcff byte").encode("utf-8", "surrogateescape")
    + b"\n\n"
    + row(4).encode()
    + b",extra\n"
    + row(5, ndc="1234567890", member_id="PHI-VALUE").encode()
    + b"\na\rb\n"
    + row(6).encode()
    + b'\n"open'
)


def test_the_hostile_sample_gives_what_each_of_its_lines_deserves() -> None:
    items, parser = parse(HOSTILE)
    assert lines_and_kinds(items) == [
        (2, "ok"),
        (5, "ok"),
        (6, "utf8"),
        (8, "field_count"),
        (9, "ndc_ambiguous"),
        (10, "csv_syntax"),
        (11, "ok"),
        (12, "csv_syntax"),
    ]
    assert parser.rows_read == parser.rows_valid + parser.rows_rejected == 8


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 1000])
def test_chunk_boundaries_anywhere_give_the_same_rows_as_one_chunk(step: int) -> None:
    whole, _ = parse(HOSTILE)
    assert parse(HOSTILE, step=step)[0] == whole

"""Gzip objects, oversized records and broken headers: bounded memory, and a clear reason when a file fails."""

from __future__ import annotations

import gzip
import tracemalloc
from typing import Annotated

import msgspec
import pytest

from streamproc.datasets import rules
from streamproc.datasets.model import Column, Dataset
from streamproc.datasets.registry import Registry, load_registry
from streamproc.ingest.parsing import CsvFileParser, Parsed, RejectedRow, ValidRow
from streamproc.ingest.rejections import BadGzip, BadHeader, EmptyObject, Limits
from tests.unit.ingest.test_parsing import HOSTILE, claims_file, lines_and_kinds, parse, row

REGISTRY = load_registry()


def parse_gzip(
    data: bytes, step: int = 1 << 16, key: str = "pharmacy_claim.csv.gz", limits: Limits | None = None
) -> list[Parsed]:
    parser = CsvFileParser(REGISTRY, key, gzip=True, limits=limits)
    out = [item for start in range(0, len(data), step) for item in parser.feed(data[start : start + step])]
    return out + parser.close()


@pytest.mark.parametrize("step", [1, 5, 4096, 1 << 20])
def test_a_gzipped_file_parses_exactly_like_the_plain_one(step: int) -> None:
    assert parse_gzip(gzip.compress(HOSTILE), step) == parse(HOSTILE)[0]


def test_concatenated_gzip_members_are_one_file() -> None:
    first, second = HOSTILE[:500], HOSTILE[500:]
    assert parse_gzip(gzip.compress(first) + gzip.compress(second), step=7) == parse(HOSTILE)[0]


def test_zero_padding_after_the_last_gzip_member_is_ignored() -> None:
    assert parse_gzip(gzip.compress(claims_file(row(1))) + b"\x00" * 16) == parse(claims_file(row(1)))[0]


def test_a_truncated_gzip_file_fails_as_bad_gzip() -> None:
    data = gzip.compress(claims_file(*(row(i) for i in range(50))))
    with pytest.raises(BadGzip, match="truncated"):
        parse_gzip(data[:-20])


def test_bytes_that_are_not_gzip_fail_as_bad_gzip() -> None:
    with pytest.raises(BadGzip, match="not a valid gzip stream"):
        parse_gzip(claims_file(row(1)))


def test_an_empty_object_or_an_empty_gzip_stream_is_empty() -> None:
    with pytest.raises(EmptyObject):
        parse_gzip(b"")
    with pytest.raises(EmptyObject):
        parse_gzip(gzip.compress(b""))


def test_a_highly_compressed_object_is_inflated_in_bounded_steps() -> None:
    # A 40 MB field compresses to about 40 KB; fed as one chunk it must not be inflated at once (the ratio cap,
    # which would refuse this file, is raised here: see test_parsing_caps.py for it).
    data = gzip.compress(claims_file(row(1, drug_name="x" * 40_000_000), row(2)), compresslevel=9)
    tracemalloc.start()
    items = parse_gzip(data, step=len(data), limits=Limits(ratio=1e9))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lines_and_kinds(items) == [(2, "record_too_large"), (3, "ok")]
    assert peak < 8 * 1024 * 1024, peak


def test_many_blank_lines_in_one_big_chunk_are_parsed_in_bounded_blocks() -> None:
    data = claims_file(row(1), *[""] * 1_000_000, row(2))
    tracemalloc.start()
    items, _ = parse(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lines_and_kinds(items) == [(2, "ok"), (1_000_003, "ok")]
    assert peak < len(data) + 5 * 1024 * 1024, peak  # the chunk itself, plus a bounded block of lines


def test_a_huge_field_is_skipped_without_holding_it_in_memory() -> None:
    size = 30 * 1024 * 1024
    parser = CsvFileParser(REGISTRY, "pharmacy_claim.csv", gzip=False)
    tracemalloc.start()
    items = parser.feed(claims_file() + row(1).encode()[:20])
    chunk = b"x" * (1 << 16)
    for _ in range(size // len(chunk)):
        items += parser.feed(chunk)
    items += parser.feed(b"\n" + row(2).encode() + b"\n") + parser.close()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lines_and_kinds(items) == [(2, "record_too_large"), (3, "ok")]
    assert peak < 4 * 1024 * 1024, peak


def test_a_rejected_row_keeps_a_bounded_raw_copy() -> None:
    items, _ = parse(claims_file(row(1, drug_name="d" * 50_000)))
    (rejected,) = items
    assert isinstance(rejected, RejectedRow)
    assert len(rejected.raw_masked) < 17_000
    assert rejected.raw_masked.endswith("more characters]")


def test_a_record_that_parity_ends_early_is_rejected_and_the_rest_is_parsed_again() -> None:
    # `x"y` is a literal quote to the csv module, so `"z` opens a field that never closes; by quote parity the
    # first line is complete. The oversized record is rejected, and whatever follows is read as rows.
    parser = CsvFileParser(REGISTRY, "pharmacy_claim.csv", gzip=False, limits=Limits(record_bytes=1000))
    data = claims_file() + b'C1,x"y,"z\n' + b"filler\n" * 200 + row(2, drug_name="plain").encode() + b"\n"
    items = parser.feed(data) + parser.close()
    assert lines_and_kinds(items)[0] == (2, "record_too_large")
    assert lines_and_kinds(items)[-1] == (203, "ok")
    assert parser.rows_read == parser.rows_valid + parser.rows_rejected == 202


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"claim_id," + b"x" * 5000 + b"\n", "header row is over 1000 bytes"),
        (b'claim_id,"member_id\n', "header row ends inside a quoted field"),
        (b"claim_id,mem\rber_id\n", "header row is not valid CSV"),
    ],
)
def test_a_header_that_cannot_be_read_fails_the_file(data: bytes, reason: str) -> None:
    parser = CsvFileParser(REGISTRY, "pharmacy_claim.csv", gzip=False, limits=Limits(record_bytes=1000))
    with pytest.raises(BadHeader, match=reason):
        for start in range(0, len(data), 100):
            parser.feed(data[start : start + 100])
        parser.close()


class Loose(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    loose_id: Annotated[str, msgspec.Meta(max_length=5)]


def test_a_rule_looser_than_the_published_schema_cannot_let_a_row_through() -> None:
    loose = Dataset(
        name="loose",
        topic="test.loose",
        table="loose",
        natural_key="loose_id",
        key_prefixes=("loose/",),
        filename_patterns=(),
        columns=(Column("loose_id", "text", True, rules.identifier(64)),),
        row_type=Loose,
    )
    parser = CsvFileParser(Registry([loose]), "loose/a.csv", gzip=False)
    first, second = parser.feed(b"loose_id\nabc\nabcdefgh\n") + parser.close()
    assert isinstance(first, ValidRow)
    assert isinstance(second, RejectedRow)
    assert [(e.field, e.rule) for e in second.errors] == [("loose_id", "schema")]


def test_the_inflater_refuses_a_corrupt_stream_in_the_middle() -> None:
    data = bytearray(gzip.compress(claims_file(*(row(i) for i in range(200))), compresslevel=1))
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(BadGzip):
        parse_gzip(bytes(data))


@pytest.mark.parametrize("step", [7, 4096, 65536, 1 << 20])
def test_chunk_boundaries_do_not_change_how_long_records_end(step: int) -> None:
    data = claims_file(
        row(1, drug_name="multi\n" * 20_000),  # 120 KB over many lines: parsed again as it grows
        row(2),
        row(3, drug_name="big\n" * 40_000),  # past the csv field limit
        row(4, drug_name="x" * 1_500_000),  # past the record limit: skipped unread
        row(5),
    )
    whole, _ = parse(data)
    assert lines_and_kinds(whole) == [
        (2, "max_length"),
        (20_003, "ok"),
        (20_004, "record_too_large"),
        (60_005, "record_too_large"),
        (60_006, "ok"),
    ]
    assert parse(data, step=step)[0] == whole

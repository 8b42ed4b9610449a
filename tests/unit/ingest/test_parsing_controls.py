"""The parser feeds a dataset's controls: the content hash from the first byte, sums per record, and a trailer
that is counted as control totals, never as a row. A registry without controls hashes nothing."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
from decimal import Decimal

from streamproc.datasets import pharmacy_claims, samples
from streamproc.datasets.controls import ControlPolicy, Controls, TrailerLayout
from streamproc.datasets.registry import Registry, load_registry
from streamproc.ingest.parsing import CsvFileParser, Parsed, ValidRow
from tests.unit.registries import PLAIN

TRAILED = Controls(trailer=TrailerLayout(sums=("total_paid",)))


def _registry(controls: ControlPolicy) -> Registry:
    others = [d for d in load_registry() if d.name != "pharmacy_claims"]
    return Registry([*others, dataclasses.replace(pharmacy_claims.DATASET, controls=controls)])


def _parse(data: bytes, registry: Registry, key: str = "pharmacy_claims/f.csv") -> tuple[CsvFileParser, list[Parsed]]:
    parser = CsvFileParser(registry, key, gzip=key.endswith(".gz"))
    out = [row for start in range(0, len(data), 777) for row in parser.feed(data[start : start + 777])]
    return parser, [*out, *parser.close()]


def _with_trailer(rows: int) -> tuple[bytes, Decimal]:
    body = samples.csv_bytes("pharmacy_claims", rows, 0.0, seed=5)
    header, *records = csv.reader(io.StringIO(body.decode()))
    column = header.index("total_paid")
    total = sum((Decimal(r[column]) for r in records), Decimal(0))
    return body + f"TRAILER,{rows},{total}\r\n".encode(), total


def test_a_trailer_is_control_totals_not_a_row_and_the_sums_reconcile() -> None:
    data, total = _with_trailer(50)
    parser, parsed = _parse(data, _registry(ControlPolicy(default=TRAILED)))
    assert parser.rows_read == 50
    assert len(parsed) == 50
    assert all(isinstance(p, ValidRow) for p in parsed)
    tally = parser.tally
    assert tally is not None
    assert tally.findings() == []
    assert tally.trailer is not None
    assert (tally.trailer.row_count, tally.trailer.sums, tally.sums) == (
        50,
        {"total_paid": total},
        {"total_paid": total},
    )
    assert tally.sha256 == hashlib.sha256(data).hexdigest()


def test_the_hash_is_of_the_inflated_content_from_the_first_byte_bom_included() -> None:
    data, _ = _with_trailer(20)
    data = b"\xef\xbb\xbf" + data
    parser, _ = _parse(gzip.compress(data), _registry(ControlPolicy(default=TRAILED)), "pharmacy_claims/f.csv.gz")
    assert parser.tally is not None
    assert parser.tally.sha256 == hashlib.sha256(data).hexdigest()


def test_a_sender_prefix_without_controls_gets_no_tally_and_its_trailer_like_line_is_a_row() -> None:
    data, _ = _with_trailer(5)
    policy = ControlPolicy(default=TRAILED, by_prefix=(("pharmacy_claims/lax/", Controls()),))
    parser, parsed = _parse(data, _registry(policy), "pharmacy_claims/lax/f.csv")
    assert parser.tally is None
    assert parser.rows_read == 6  # the TRAILER line is read as a (rejected) row
    assert len(parsed) == 6


def test_a_registry_without_controls_hashes_nothing_and_keeps_no_tally() -> None:
    parser, _ = _parse(samples.csv_bytes("pharmacy_claims", 5, 0.0), PLAIN)
    assert parser.tally is None
    assert parser._content is None

"""The control pass's tally: content hash, column sums, and a trailer that must be one, last and readable."""

from __future__ import annotations

import gzip
import hashlib
from decimal import Decimal

import pytest

from streamproc.datasets.controls import Controls, Declared, ManifestRule, TrailerLayout, evaluate
from streamproc.ingest.tally import Tally

SCALES = {"total_paid": 2}
CONTROLS = Controls(trailer=TrailerLayout(sums=("total_paid",)))
AT = {"total_paid": 1}


def tally_of(records: list[list[str]], controls: Controls = CONTROLS) -> tuple[Tally, int]:
    tally, rows = Tally(controls, SCALES), 0
    for line, fields in enumerate(records, start=2):
        if not tally.record(line, fields, AT):
            rows += 1
    return tally, rows


def test_a_file_whose_trailer_matches_reconciles() -> None:
    tally, rows = tally_of([["C1", "10.00"], ["C2", "-2.50"], ["TRAILER", "2", "7.50"]])
    assert rows == 2
    assert tally.findings() == []
    verdict = evaluate(CONTROLS, tally.facts(rows_read=rows, rows_rejected=0), [tally.trailer] if tally.trailer else [])
    assert verdict.findings == ()


def test_a_truncated_file_has_no_trailer_and_is_held() -> None:
    tally, _ = tally_of([["C1", "10.00"], ["C2", "2.50"]])
    (finding,) = tally.findings()
    assert (finding.control, finding.actual) == ("trailer", "no trailer")


def test_a_trailer_that_is_not_the_last_line_is_held() -> None:
    tally, rows = tally_of([["C1", "1"], ["TRAILER", "1", "1"], ["C2", "1"]])
    assert rows == 2
    assert [f.actual for f in tally.findings()] == ["the trailer on line 3 is not the last line (line 4 follows)"]


def test_two_trailers_are_held() -> None:
    tally, _ = tally_of([["C1", "1"], ["TRAILER", "1", "1"], ["TRAILER", "1", "1"]])
    assert "two trailers (lines 3 and 4)" in [f.actual for f in tally.findings()]


def test_an_unreadable_trailer_is_held_with_its_line_and_reason() -> None:
    tally, _ = tally_of([["C1", "1"], ["TRAILER", "-1", "1"]])
    assert [f.actual for f in tally.findings()] == ["line 3: trailer row count is not a whole number >= 0"]


def test_values_that_do_not_read_as_numbers_are_counted_not_summed() -> None:
    tally, rows = tally_of([["C1", "1.25"], ["C2", "n/a"], ["C3"], ["C4", "NaN"], ["TRAILER", "4", "1.25"]])
    facts = tally.facts(rows_read=rows, rows_rejected=3)
    assert facts.sums == {"total_paid": Decimal("1.25")}
    assert facts.unsummed == {"total_paid": 3}


def test_the_hash_is_of_the_decompressed_content_so_a_regzipped_copy_is_the_same_file() -> None:
    content = b"claim_id,total_paid\r\nC1,1.00\r\n"
    assert gzip.compress(content, mtime=1) != gzip.compress(content, mtime=2)
    tally = Tally(Controls(duplicates=True), {})
    for part in (content[:7], content[7:]):
        tally.content(part)
    assert tally.sha256 == hashlib.sha256(content).hexdigest()


def test_without_a_declared_trailer_a_trailer_like_line_is_a_row() -> None:
    tally, rows = tally_of([["TRAILER", "1", "1"]], Controls(manifest=ManifestRule(sums=("total_paid",))))
    assert rows == 1
    assert tally.findings() == []


def test_a_manifest_checksum_is_compared_with_the_content_hash() -> None:
    tally = Tally(Controls(manifest=ManifestRule()), {})
    tally.content(b"x")
    declared = Declared(source="manifest", row_count=0, sha256=hashlib.sha256(b"y").hexdigest())
    (finding,) = evaluate(Controls(), tally.facts(0, 0), [declared]).findings
    assert finding.control == "manifest SHA-256"


def test_a_tally_refuses_sums_of_columns_it_has_no_scale_for() -> None:
    with pytest.raises(ValueError, match="not a column"):
        Tally(Controls(trailer=TrailerLayout(sums=("copay",))), SCALES)

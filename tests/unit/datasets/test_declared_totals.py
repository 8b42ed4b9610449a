"""Trailers and manifests are untrusted: each bad one gets a clear reason that never repeats a value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streamproc.datasets.controls import TrailerLayout
from streamproc.datasets.declared import (
    MAX_MANIFEST_BYTES,
    DeclaredInvalid,
    data_key_of,
    is_trailer,
    manifest_key,
    parse_manifest,
    parse_trailer,
)

SCALES = {"total_paid": 2, "quantity": 3}
SHA = "0123456789abcdef" * 4


def test_a_manifest_is_read_exactly_without_a_float_in_between() -> None:
    doc = b'{"row_count": 3, "sums": {"total_paid": 0.30, "quantity": "1.125"}, "sha256": "%s"}' % SHA.upper().encode()
    declared = parse_manifest(doc, SCALES)
    assert declared.source == "manifest"
    assert declared.row_count == 3
    assert declared.sums == {"total_paid": Decimal("0.30"), "quantity": Decimal("1.125")}
    assert declared.sha256 == SHA  # lower-cased


def test_a_manifest_may_declare_only_a_row_count() -> None:
    declared = parse_manifest(b'{"row_count": 0, "note": "unknown keys are the sender\'s"}', SCALES)
    assert declared.row_count == 0
    assert declared.sums == {}
    assert declared.sha256 is None


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"row_count=3", "manifest is not JSON"),
        (b"\xff\xfe{}", "manifest is not JSON"),
        (b"[1, 2]", "manifest is not a JSON object"),
        (b"{}", "manifest has no row_count"),
        (b'{"row_count": -4}', "manifest row_count is negative"),
        (b'{"row_count": "12"}', "manifest row_count is not a whole number"),
        (b'{"row_count": 12.0}', "manifest row_count is not a whole number"),
        (b'{"row_count": true}', "manifest row_count is not a whole number"),
        (b'{"row_count": 1e40}', "manifest row_count is not a whole number"),
        (b'{"row_count": 100000000000000000000}', "manifest row_count is implausibly large"),
        (b'{"row_count": 1, "sums": [1]}', "manifest sums is not an object"),
        (b'{"row_count": 1, "sums": {"total_paid": "12,50"}}', "manifest sum of 'total_paid' is not a number"),
        (b'{"row_count": 1, "sums": {"total_paid": null}}', "manifest sum of 'total_paid' is not a number"),
        (b'{"row_count": 1, "sums": {"total_paid": "NaN"}}', "manifest sum of 'total_paid' is not a finite number"),
        (b'{"row_count": 1, "sums": {"total_paid": "1250.005"}}', "has 3 decimal places; the column has 2"),
        (b'{"row_count": 1, "sums": {"member_id": "1"}}', "1 column(s) the dataset does not sum: 'member_id'"),
        (b'{"row_count": 1, "sha256": "abc123"}', "manifest sha256 is not 64 hexadecimal digits (6 characters)"),
        (b'{"row_count": 1, "sha256": 12}', "manifest sha256 is not 64 hexadecimal digits (a JSON int)"),
        (b'{"row_count": 1, "sha256": "%s"}' % (b"g" * 64), "manifest sha256 is not 64 hexadecimal digits"),
        (b"[" * 30_000 + b"]" * 30_000, "manifest is not JSON"),  # nested past any parser's depth
    ],
)
def test_a_bad_manifest_is_refused_with_its_reason(doc: bytes, reason: str) -> None:
    with pytest.raises(DeclaredInvalid) as caught:
        parse_manifest(doc, SCALES)
    assert reason in caught.value.reason


def test_a_huge_manifest_is_refused_by_its_size_before_it_is_parsed() -> None:
    doc = b'{"row_count": 1, "pad": "' + b"x" * MAX_MANIFEST_BYTES + b'"}'
    with pytest.raises(DeclaredInvalid, match=f"more than the {MAX_MANIFEST_BYTES}"):
        parse_manifest(doc, SCALES)


def test_a_reason_never_repeats_the_senders_values() -> None:
    secret = "MEMBER-0042"
    docs = [
        b'{"row_count": "%s"}' % secret.encode(),
        b'{"row_count": 1, "sums": {"total_paid": "%s"}}' % secret.encode(),
        b'{"row_count": 1, "sha256": "%s"}' % secret.encode(),
    ]
    for doc in docs:
        with pytest.raises(DeclaredInvalid) as caught:
            parse_manifest(doc, SCALES)
        assert secret not in caught.value.reason


def test_an_unknown_column_name_is_shown_escaped_and_cut_short() -> None:
    name = "\x1b[31m" + "c" * 200
    with pytest.raises(DeclaredInvalid) as caught:
        parse_manifest(b'{"row_count": 1, "sums": {"%s": "1"}}' % name.encode().replace(b"\x1b", b"\\u001b"), SCALES)
    assert "\x1b" not in caught.value.reason
    assert "\\x1b[31m" in caught.value.reason
    assert len(caught.value.reason) < 160


def test_a_trailer_gives_its_count_and_sums_in_the_layouts_order() -> None:
    layout = TrailerLayout(tag="TRAILER", sums=("total_paid", "quantity"))
    assert is_trailer(" TRAILER", layout)
    assert not is_trailer("C-1", layout)
    declared = parse_trailer(["TRAILER", " 2 ", "-10.50", "3"], layout, SCALES)
    assert declared.source == "trailer"
    assert declared.row_count == 2
    assert declared.sums == {"total_paid": Decimal("-10.50"), "quantity": Decimal(3)}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["TRAILER", "2"], "trailer has 2 fields, expected 3 (tag, row count, 1 sum(s))"),
        (["TRAILER", "2", "1", "9"], "trailer has 4 fields, expected 3"),
        (["TRAILER", "-2", "1"], "trailer row count is not a whole number >= 0"),
        (["TRAILER", "two", "1"], "trailer row count is not a whole number >= 0"),
        (["TRAILER", "2.0", "1"], "trailer row count is not a whole number >= 0"),
        (["TRAILER", "2", "1.234"], "trailer sum of 'total_paid' has 3 decimal places"),
        (["TRAILER", "2", ""], "trailer sum of 'total_paid' is not a number"),
        (["TRAILER", "2", "Infinity"], "trailer sum of 'total_paid' is not a finite number"),
    ],
)
def test_a_bad_trailer_is_refused_with_its_reason(fields: list[str], reason: str) -> None:
    with pytest.raises(DeclaredInvalid) as caught:
        parse_trailer(fields, TrailerLayout(sums=("total_paid",)), SCALES)
    assert reason in caught.value.reason


def test_a_manifest_key_names_its_data_file() -> None:
    assert manifest_key("pharmacy_claims/a.csv.gz") == "pharmacy_claims/a.csv.gz.manifest.json"
    assert data_key_of("pharmacy_claims/a.csv.gz.manifest.json") == "pharmacy_claims/a.csv.gz"
    assert data_key_of("pharmacy_claims/a.csv") is None

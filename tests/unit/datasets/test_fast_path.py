"""The fast path accepts nothing the slow path refuses, and encodes what it accepts to the same bytes."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Annotated

import msgspec
import pytest
from msgspec import Meta

from streamproc.datasets import samples
from streamproc.datasets.model import Column, Dataset, Layout, ValidRow
from streamproc.datasets.registry import Registry, load_registry
from streamproc.datasets.spec import Exact, Rule, Violation
from streamproc.ingest.parsing import AUDIT_EVERY, CsvFileParser

REGISTRY = load_registry()

Mutation = Callable[[random.Random, str], str]
MUTATIONS: list[Mutation] = [
    lambda r, v: f"  {v}\t",
    lambda r, v: v.lower(),
    lambda r, v: v.upper(),
    lambda r, v: "",
    lambda r, v: " ",
    lambda r, v: v + "\x00",
    lambda r, v: v + "\x1f" + v,
    lambda r, v: v * 40,
    lambda r, v: "0" + v,
    lambda r, v: "+" + v,
    lambda r, v: "-" + v,
    lambda r, v: v + ".000",
    lambda r, v: v + ".0001",
    lambda r, v: v + "e3",
    lambda r, v: v.replace("-", ""),
    lambda r, v: v[:-1],
    lambda r, v: v[:-1] + str((int(v[-1]) + 1) % 10) if v[-1:].isdigit() else v,
    lambda r, v: "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in v),  # full-width digits
    lambda r, v: r.choice(["0", "0.0", "0.00", "-0.00", "0.001", "1.", ".5", "00.5", "999999999.999", "1e2"]),
    lambda r, v: r.choice(["2026-02-30", "20260131", "2026-13-01", "2999-01-01", "2026-1-5", "2026-W01-1"]),
    lambda r, v: r.choice(["12345-678-90", "1234-5678-90", "12345-6789-0", "1234567890", "12345-6789-012"]),
    lambda r, v: r.choice(["paid", "Paid", "PAİD", "reversed", "REJECTED ", "x"]),
    lambda r, v: r.choice(["0", "1", "365", "366", "007", "+7", "-1", "1.0", "٣"]),
    lambda r, v: r.choice(["2026-03-01T10:00:00", "2026-03-01t10:00:00z", "2026-03-01 10:00:00+02:00"]),
    lambda r, v: r.choice(["2026-03-01T10:00:00.1234567Z", "2026-03-01T10:00Z", "2026-03-01T10:00:00+00:00"]),
    lambda r, v: r.choice(["::1", "2001:DB8::1", "010.0.0.1", "10.0.0.256", "fe80::1%eth0", "10.0.0.0/8"]),
]


def fuzzed(dataset: str, count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for row in samples.rows(dataset, count, 0.02, seed=seed):
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            column = rng.randrange(len(row))
            row[column] = rng.choice(MUTATIONS)(rng, row[column])
        rows.append(row)
    return rows


@pytest.mark.parametrize("dataset", ["pharmacy_claims", "audit_records"])
def test_every_row_the_fast_path_accepts_the_slow_path_accepts_with_the_same_bytes(dataset: str) -> None:
    header = samples.CLAIM_HEADER if dataset == "pharmacy_claims" else samples.AUDIT_HEADER
    layout = REGISTRY.by_name(dataset).layout(header)
    fast_taken = slow_valid = 0
    for line, fields in enumerate(fuzzed(dataset, 20_000, seed=hash(dataset) % 1000), start=2):
        fast, slow = layout.fast_row(line, fields), layout.row(line, fields)
        slow_valid += isinstance(slow, ValidRow)
        if fast is not None:
            fast_taken += 1
            assert fast == slow, (line, fields)
    assert slow_valid > 5_000  # the fuzz leaves plenty of valid rows...
    assert fast_taken > 0.8 * slow_valid  # ...and the fast path takes most of them


@pytest.mark.parametrize("dataset", ["pharmacy_claims", "audit_records"])
def test_the_fast_path_takes_the_generated_sample_rows(dataset: str) -> None:
    header = samples.CLAIM_HEADER if dataset == "pharmacy_claims" else samples.AUDIT_HEADER
    layout = REGISTRY.by_name(dataset).layout(header)
    rows = list(samples.rows(dataset, 2000, 0.0, seed=3))
    assert sum(layout.fast_row(n, r) is not None for n, r in enumerate(rows, start=2)) == len(rows)


class Loose(msgspec.Struct, frozen=True, kw_only=True):
    code: Annotated[str, Meta(max_length=64)]


def _refuses_x(value: str) -> str:
    if "x" in value:
        msg = "x is not allowed"
        raise Violation("no_x", msg)
    return value


def test_an_audit_that_catches_the_fast_path_disagreeing_turns_it_off_for_the_file(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A deliberately wrong fast form: its pattern accepts "x", which the authoritative check refuses.
    wrong = Rule(_refuses_x, Exact(pattern="[a-z]{1,8}", lengths=(1, 8)))
    dataset = Dataset(
        name="codes",
        topic="t.codes",
        table="codes",
        natural_key="code",
        key_prefixes=("codes/",),
        filename_patterns=(),
        columns=(Column("code", "text", True, wrong),),
        row_type=Loose,
    )
    parser = CsvFileParser(Registry([dataset]), "codes/a.csv", gzip=False)
    lines = ["code"] + ["x" if n == AUDIT_EVERY - 1 else "ab" for n in range(3 * AUDIT_EVERY)]
    with caplog.at_level(logging.ERROR):
        items = parser.feed(("\n".join(lines) + "\n").encode()) + parser.close()
    assert parser.rows_rejected == 1 and parser.rows_valid == 3 * AUDIT_EVERY - 1
    assert [i.line for i in items if not isinstance(i, ValidRow)] == [AUDIT_EVERY + 1]
    assert "the fast path disagrees with the slow path" in caplog.text


def test_a_layout_missing_an_optional_column_still_takes_the_fast_path() -> None:
    claims = REGISTRY.by_name("pharmacy_claims")
    header = [c for c in samples.CLAIM_HEADER if c != "drug_name"]
    layout: Layout = claims.layout(header)
    row = next(samples.rows("pharmacy_claims", 1, 0.0, seed=9))
    del row[samples.CLAIM_HEADER.index("drug_name")]
    fast = layout.fast_row(2, row)
    assert fast is not None and fast == layout.row(2, row)
    assert b'"drug_name":null' in fast.row_json

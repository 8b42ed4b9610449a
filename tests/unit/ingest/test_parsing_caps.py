"""What one file may cost the worker (issue 16, defect 5): caps on decompressed size, gzip ratio and rows, and a
bound on the work done between two turns of the event loop."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from streamproc.datasets import samples
from streamproc.ingest.parsing import STEP, CsvFileParser
from streamproc.ingest.rejections import Limits, OverLimit
from tests.unit.ingest.test_fanout import World
from tests.unit.ingest.test_parsing import claims_file, row
from tests.unit.ingest.test_parsing_gzip_and_limits import REGISTRY


def bomb(rows: int) -> bytes:
    """A valid claims file of `rows` identical short rows, gzipped: about 1000 times smaller than its content."""
    line = row(1).encode() + b"\n"
    return gzip.compress(claims_file() + line * rows, compresslevel=9)


def test_a_decompression_bomb_is_refused_by_its_ratio_before_most_of_it_inflates() -> None:
    data = bomb(300_000)  # ~36 MB of rows in well under 1 MB
    parser = CsvFileParser(REGISTRY, "pharmacy_claims/bomb.csv.gz", gzip=True)
    with pytest.raises(OverLimit, match="times its compressed size, a decompression bomb"):
        parser.feed(data)
    inflated = parser._gzip.inflated if parser._gzip else 0  # the parser's own gauge, read for the bound
    assert inflated <= Limits().ratio_after + STEP  # refused at the first step past the 8 MiB floor
    with pytest.raises(OverLimit):  # the file stays refused
        parser.close()


def test_the_decompressed_size_cap_fails_the_file_naming_its_setting() -> None:
    data = gzip.compress(samples.csv_bytes("pharmacy_claims", 20_000, 0.0, seed=1))
    parser = CsvFileParser(REGISTRY, "pharmacy_claims/big.csv.gz", gzip=True, limits=Limits(inflated_bytes=1 << 20))
    with pytest.raises(OverLimit, match=r"decompresses to over 1048576 bytes \(cap STREAMPROC_MAX_INFLATED_BYTES\)"):
        for start in range(0, len(data), 4096):
            parser.feed(data[start : start + 4096])


def test_the_row_cap_fails_the_file_and_returns_no_row_past_it() -> None:
    parser = CsvFileParser(REGISTRY, "pharmacy_claims/many.csv", gzip=False, limits=Limits(rows=100))
    data = samples.csv_bytes("pharmacy_claims", 1000, 0.0, seed=2)
    returned = 0
    with pytest.raises(OverLimit, match="more than 100 rows"):
        for step in parser.steps(data):
            returned += len(step)
    assert returned <= 100


def test_each_step_inflates_and_parses_a_bounded_amount() -> None:
    data = bomb(100_000)  # ~12 MB inflated from one small chunk
    parser = CsvFileParser(REGISTRY, "pharmacy_claims/steps.csv.gz", gzip=True, limits=Limits(ratio=1e9))
    rows, steps = 0, 0
    for step in parser.steps(data):
        steps += 1
        rows += len(step)
        assert len(step) <= STEP // 2  # a record is at least one byte and a line end
    assert rows + len(parser.close()) == 100_000
    assert steps >= 100_000 * len(row(1)) // STEP


async def test_a_split_gives_the_event_loop_a_turn_between_steps_of_one_chunk() -> None:
    w = World(chunk_size=1 << 30)  # the whole object arrives as one chunk
    body = bomb(50_000)  # ~6 MB inflated from ~20 KB: under the ratio cap's 8 MiB floor, so it loads
    assert len(claims_file() + row(1).encode() * 50_001) < Limits().ratio_after
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    ev = w.put("pharmacy_claims/loop.csv.gz", body)
    await w.ingest(ev)
    ticker.cancel()
    assert len(w.claim_keys()) == 50_000
    assert ticks >= 50_000 * len(row(1)) // STEP  # at least one turn per step of the one chunk

"""A worker joining while another splits a large file: the rebalance does not wait for that file (Faust's own
revocation waits until the event in hand is acked), so other files go on, and the large one is resumed, exact."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devstack.deployment import deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.integration.fault_support import repeated_gzip

REPEATS = 500
ROWS = 2000 * REPEATS


def _large_gzip() -> bytes:
    """2,000 distinct rows repeated: 1,000,000 rows (~115 MB inflated, under 1 MB on S3), a minute of splitting."""
    return repeated_gzip(71, "J", REPEATS)


@pytest.mark.slow
async def test_a_worker_joining_mid_file_does_not_hold_other_files_behind_the_large_one(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    large, small = "pharmacy_claims/large.csv.gz", "pharmacy_claims/small.csv"
    async with deployment(stack, unique, tmp_path) as d:
        d.start("bridge", "-m", "bridge")
        ratio = {"STREAMPROC_MAX_GZIP_RATIO": "100000"}  # the ratio cap would refuse the file at once
        d.start_worker("worker-1", **ratio)
        await d.upload(large, _large_gzip())
        while True:  # until the split is under way
            rows = await d.ledger([large])
            if rows and (rows[0]["resume"] or {}).get("line", 0) > 0:
                break
            await asyncio.sleep(0.2)
        d.start_worker("worker-2", **ratio)  # joins the group: a rebalance revokes worker-1's partitions
        await asyncio.sleep(5)
        await d.upload(small, samples.csv_bytes("pharmacy_claims", 20, 0.0, seed=72, prefix="K"))
        t0 = time.monotonic()
        (done,) = await d.wait_finished([small], limit=120)
        small_after = time.monotonic() - t0
        (large_then,) = await d.ledger([large])
        (row,) = await d.wait_finished([large], limit=400)
        distinct = await d.count("pharmacy_claims")
    assert done["status"] == "COMPLETED"
    assert large_then["status"] == "PROCESSING", f"the small file waited {small_after:.0f} s, until the large one ended"
    assert (row["status"], row["rows_read"], row["rows_valid"]) == ("COMPLETED", ROWS, ROWS)
    assert row["attempts"] >= 2  # let go at the rebalance, resumed from its checkpoint by the partition's owner
    assert distinct == 2000 + 20

"""A worker joining while another splits a large file: the rebalance does not wait for that file (Faust's own
revocation waits until the event in hand is acked), so other files go on, and the large one is resumed, exact.
A file queued behind the large one on its partition is not taken up in its place during the rebalance (its ack
would let Faust commit past the large file, which no worker would then resume: seed 1644, chaos-002039)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devstack.deployment import Deployment, deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples
from tests.integration.fault_support import repeated_gzip

REPEATS = 250
ROWS = 2000 * REPEATS


def _large_gzip() -> bytes:
    """2,000 distinct rows repeated: 500,000 rows (~58 MB inflated, under 1 MB on S3), most of a minute of splitting
    under `make test`'s coverage tracer."""
    return repeated_gzip(71, "J", REPEATS)


async def _key_beside(d: Deployment, taken: int, workers: tuple[str, str], limit: float = 60.0) -> str:
    """A key whose notification lands on a partition held by the worker that does not hold partition `taken`,
    once the rebalance has split the partitions between both workers. (One worker runs one file at a time, so a
    file behind the large one on its worker's partitions waits whatever the rebalance does.)"""
    deadline = time.monotonic() + limit
    held: list[set[int] | None] = []
    while time.monotonic() < deadline:
        held = [await d.objects_assignment(w) for w in workers]
        first, second = held
        if first and second and not first & second and len(first | second) == 3:
            free = second if taken in first else first
            return next(k for i in range(1000) if d.objects_partition(k := f"pharmacy_claims/small-{i}.csv") in free)
        await asyncio.sleep(0.5)
    msg = f"the two workers did not split the partitions within {limit:.0f} s: {held}"
    raise AssertionError(msg)


@pytest.mark.slow
async def test_a_worker_joining_mid_file_does_not_hold_other_files_behind_the_large_one(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    large = "pharmacy_claims/large.csv.gz"
    async with deployment(stack, unique, tmp_path) as d:
        d.start("bridge", "-m", "bridge")
        ratio = {"STREAMPROC_MAX_GZIP_RATIO": "100000"}  # the ratio cap would refuse the file at once
        d.start_worker("worker-1", **ratio)
        await d.upload(large, _large_gzip())
        taken = d.objects_partition(large)
        while True:  # until the split is under way
            rows = await d.ledger([large])
            if rows and (rows[0]["resume"] or {}).get("line", 0) > 0:
                break
            await asyncio.sleep(0.2)
        behind = next(k for i in range(1000) if d.objects_partition(k := f"pharmacy_claims/behind-{i}.csv") == taken)
        await d.upload(behind, samples.csv_bytes("pharmacy_claims", 10, 0.0, seed=73, prefix="B"))
        await asyncio.sleep(4)  # relayed and fetched: it waits in worker-1's buffer behind the large file
        d.start_worker("worker-2", **ratio)  # joins the group: a rebalance revokes worker-1's partitions
        small = await _key_beside(d, taken, ("worker-1", "worker-2"))
        await d.upload(small, samples.csv_bytes("pharmacy_claims", 20, 0.0, seed=72, prefix="K"))
        t0 = time.monotonic()
        (done,) = await d.wait_finished([small], limit=120)
        small_after = time.monotonic() - t0
        (large_then,) = await d.ledger([large])
        finished = {r["key"]: r for r in await d.wait_finished([large, behind], limit=400)}
        row, after = finished[large], finished[behind]
        distinct = await d.count("pharmacy_claims")
    assert done["status"] == "COMPLETED"
    assert large_then["status"] == "PROCESSING", f"the small file waited {small_after:.0f} s, until the large one ended"
    assert (row["status"], row["rows_read"], row["rows_valid"]) == ("COMPLETED", ROWS, ROWS)
    assert row["attempts"] >= 2  # let go at the rebalance, resumed from its checkpoint by the partition's owner
    assert (after["key"], after["status"], after["rows_loaded"]) == (behind, "COMPLETED", 10)
    assert distinct == 2000 + 20 + 10

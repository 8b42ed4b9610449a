"""The real processes: `python -m bridge` and `python -m streamproc worker`, from an S3 upload to PostgreSQL rows,
including a worker killed with SIGKILL in the middle of a file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.deployment import deployment
from devstack.stack import Endpoints
from streamproc.datasets import samples


async def test_uploads_flow_through_bridge_and_worker_into_postgres(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    async with deployment(stack, unique, tmp_path) as d:
        d.start("bridge", "-m", "bridge")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        claims = samples.csv_bytes("pharmacy_claims", 2000, 0.01, seed=21, prefix="E")
        await d.upload("pharmacy_claims/e2e.csv", claims)
        await d.upload("audit_records/e2e.csv", samples.csv_bytes("audit_records", 500, 0.0, seed=22))
        await d.upload("notes/readme.csv", b"anything,else\n1,2\n")
        rows = {
            r["key"]: r
            for r in await d.wait_finished(["pharmacy_claims/e2e.csv", "audit_records/e2e.csv", "notes/readme.csv"])
        }
    claims_row = rows["pharmacy_claims/e2e.csv"]
    assert claims_row["status"] == "PARTIAL"
    assert claims_row["rows_read"] == 2000
    assert claims_row["rows_loaded"] + claims_row["rows_dead_lettered"] == 2000
    assert 0 < claims_row["rows_dead_lettered"] < 100
    assert (rows["audit_records/e2e.csv"]["status"], rows["audit_records/e2e.csv"]["rows_loaded"]) == ("COMPLETED", 500)
    assert rows["notes/readme.csv"]["status"] == "FAILED"


@pytest.mark.slow
async def test_a_worker_killed_mid_file_loads_every_row_exactly_once_after_restart(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    async with deployment(stack, unique, tmp_path) as d:
        d.start("bridge", "-m", "bridge")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        await d.upload("pharmacy_claims/warmup.csv", samples.csv_bytes("pharmacy_claims", 10, 0.0, seed=30, prefix="W"))
        await d.wait_finished(["pharmacy_claims/warmup.csv"])
        await d.upload(
            "pharmacy_claims/big.csv", samples.csv_bytes("pharmacy_claims", 60_000, 0.0, seed=31, prefix="K")
        )
        while True:  # kill it once the sinks loaded a first batch of the file
            rows = await d.ledger(["pharmacy_claims/big.csv"])
            if rows and rows[0]["rows_loaded"] > 0:
                break
            await asyncio.sleep(0.02)
        d.kill("worker")
        (at_kill,) = await d.ledger(["pharmacy_claims/big.csv"])  # the dead worker changes nothing any more
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        (row,) = await d.wait_finished(["pharmacy_claims/big.csv"], limit=180)
    assert 0 < at_kill["rows_loaded"] < 60_000  # the kill landed in the middle of the file
    assert at_kill["status"] == "PROCESSING"
    assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("COMPLETED", 60_000, 60_000)
    assert await d.count("pharmacy_claims") == 60_010

"""A worker (re)started while one broker of three is down starts and ingests: it used to exit at Faust's start-up
topic creation (NodeNotReadyError, found by chaos seed 1644; docs/chaos.md)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from devstack.chaos.services import Services
from devstack.deployment import deployment
from devstack.process import reap, wait_for
from streamproc.datasets import samples

pytestmark = pytest.mark.slow


async def test_a_worker_restarted_while_one_broker_of_three_is_down_starts_and_ingests(
    tmp_path: Path, unique: str
) -> None:
    services = Services.create(tmp_path / "cluster")  # a private three-broker cluster, PostgreSQL and moto
    try:
        endpoints = await asyncio.to_thread(services.start)
        async with deployment(endpoints, unique, tmp_path / "run") as d:
            d.start("bridge", "-m", "bridge")
            d.start_worker("worker")  # the first start creates every topic with three replicas
            first = "pharmacy_claims/before-the-broker-died.csv"
            await d.upload(first, samples.csv_bytes("pharmacy_claims", 200, seed=1))
            assert [r["status"] for r in await d.wait_finished([first])] == ["COMPLETED"]
            d.stop("worker")

            broker = services.cluster.brokers[0]  # node 1: the first broker of every client's metadata
            owned = broker.owned()
            assert owned is not None
            os.kill(owned.pid, signal.SIGKILL)
            assert await asyncio.to_thread(wait_for, lambda: broker.owned() is None, 10.0, 0.1)
            reap(owned.pid)

            d.start_worker("worker")
            second = "pharmacy_claims/while-a-broker-is-down.csv"
            await d.upload(second, samples.csv_bytes("pharmacy_claims", 300, seed=2, prefix="D"))
            (row,) = await d.wait_finished([second], limit=180)
            assert not d.dead("worker"), d.log_text()[-3000:]
            assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("COMPLETED", 300, 300)
            assert await d.count("pharmacy_claims") == 500
    finally:
        await asyncio.to_thread(services.stop)

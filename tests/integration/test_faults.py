"""Faults on the running pipeline (real bridge and worker processes, 20k-row files): every one ends with exactly
the right rows, the ledger reconciled, only bad rows dead-lettered, and at most 5% extra row events on the topic.
Recovery times are recorded in test-output/faults.jsonl (reported, never asserted)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from devstack.deployment import Deployment, deployment
from devstack.kafka import Kafka
from devstack.postgres import Postgres
from devstack.stack import Endpoints
from tests.integration.fault_support import (
    Outcome,
    assert_exact,
    fault_file,
    loaded,
    moving_again,
    poll,
    private_kafka,
    private_postgres,
    start_service,
    until_loading,
    upload_file,
    with_kafka,
    with_postgres,
)

__all__ = ["private_kafka", "private_postgres"]  # fixtures


async def until_dead(d: Deployment, name: str) -> None:
    async def gone() -> bool:
        return d.dead(name)

    await poll(gone, interval=0.02)
    d.stop(name)  # reaps it


async def crash_and_restart(stack: Endpoints, unique: str, tmp_path: Path, fault: str) -> None:
    """The worker kills itself at `fault`; a worker restarted under the same name finishes the file."""
    ff = fault_file(tmp_path / "data")
    async with deployment(stack, unique, tmp_path / "run") as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker", STREAMPROC_FAULTS=fault)
        await upload_file(d, ff)
        await until_dead(d, "worker")
        at_kill = await loaded(d, ff.key)
        d.start_worker("worker")
        outcome = Outcome(fault=f"worker SIGKILL at {fault}", notes={"loaded_at_kill": at_kill})
        outcome.recovery_seconds = await moving_again(d, ff.key, at_kill)
        await assert_exact(d, ff, unique, outcome)
    assert at_kill < ff.want.rows  # the kill landed before the file was loaded


async def test_a_worker_killed_during_the_fan_out_resumes_and_duplicates_no_row_event(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    await crash_and_restart(stack, unique, tmp_path, "split:8000")


@pytest.mark.slow
async def test_a_worker_killed_inside_a_sink_transaction_loses_and_doubles_nothing(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    await crash_and_restart(stack, unique, tmp_path, "sink-write:2")


@pytest.mark.slow
async def test_a_worker_killed_after_a_database_commit_but_before_the_offset_commit_doubles_nothing(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    await crash_and_restart(stack, unique, tmp_path, "sink-commit:2")


@pytest.mark.slow
async def test_kafka_stopped_and_restarted_mid_file_loses_nothing(
    stack: Endpoints, unique: str, tmp_path: Path, private_kafka: Kafka
) -> None:
    ff = fault_file(tmp_path / "data")
    async with deployment(with_kafka(stack, private_kafka), unique, tmp_path / "run") as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker")
        await upload_file(d, ff)
        before = await until_loading(d, ff.key)
        await asyncio.to_thread(private_kafka.stop)  # SIGTERM: a clean broker shutdown
        await asyncio.sleep(3)
        await start_service(private_kafka)
        outcome = Outcome(fault="Kafka stopped and restarted mid-file", notes={"loaded_before": before})
        outcome.recovery_seconds = await moving_again(d, ff.key, await loaded(d, ff.key))
        await assert_exact(d, ff, unique, outcome)
        assert not d.dead("worker")  # it rode the outage out


@pytest.mark.slow
@pytest.mark.outage
async def test_kafka_frozen_for_fifteen_seconds_mid_file_loses_nothing(
    stack: Endpoints, unique: str, tmp_path: Path, private_kafka: Kafka
) -> None:
    ff = fault_file(tmp_path / "data")
    async with deployment(with_kafka(stack, private_kafka), unique, tmp_path / "run") as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker")
        await upload_file(d, ff)
        await until_loading(d, ff.key)
        pid = private_kafka.owned()
        assert pid is not None
        os.kill(pid.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(15)
        finally:
            os.kill(pid.pid, signal.SIGCONT)
        outcome = Outcome(fault="Kafka frozen (SIGSTOP) 15 s mid-file")
        outcome.recovery_seconds = await moving_again(d, ff.key, await loaded(d, ff.key))
        await assert_exact(d, ff, unique, outcome)
        assert not d.dead("worker")


@pytest.mark.slow
@pytest.mark.outage
async def test_postgres_stopped_twenty_seconds_mid_file_holds_the_pipeline_without_a_crash_or_dead_letter(
    stack: Endpoints, unique: str, tmp_path: Path, private_postgres: Postgres
) -> None:
    ff = fault_file(tmp_path / "data")
    async with deployment(with_postgres(stack, private_postgres), unique, tmp_path / "run") as d:
        d.start("bridge", "-m", "bridge")
        d.start_worker("worker")
        worker = d.pid("worker")
        await upload_file(d, ff)
        before = await until_loading(d, ff.key)
        await asyncio.to_thread(private_postgres.stop)
        await asyncio.sleep(20)
        await start_service(private_postgres)
        outcome = Outcome(fault="PostgreSQL stopped 20 s mid-file", notes={"loaded_before": before})
        outcome.recovery_seconds = await moving_again(d, ff.key, before)
        await assert_exact(d, ff, unique, outcome)
        assert d.pid("worker") == worker and not d.dead("worker")  # no crash, no restart


@pytest.mark.slow
async def test_a_bridge_killed_between_produce_and_delete_causes_one_duplicate_event_that_is_skipped(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    ff = fault_file(tmp_path / "data")
    async with deployment(stack, unique, tmp_path / "run", visibility_timeout=3) as d:
        d.start_worker("worker")
        d.start("bridge", "-m", "bridge", BRIDGE_FAULTS="relay-delete:2")  # 1: the s3:TestEvent, 2: the upload
        await upload_file(d, ff)
        await until_dead(d, "bridge")
        t0 = time.monotonic()
        d.start("bridge", "-m", "bridge")  # the message comes back after its visibility timeout: a duplicate

        async def duplicate_seen() -> bool:
            rows = await d.ledger([ff.key])
            return bool(rows and rows[0]["duplicate_events"] >= 1)

        await poll(duplicate_seen, 90)
        outcome = Outcome(fault="bridge SIGKILL between produce and SQS delete")
        outcome.recovery_seconds = time.monotonic() - t0  # until the redelivered notification was seen (and skipped)
        await assert_exact(d, ff, unique, outcome)


@pytest.mark.slow
@pytest.mark.outage
async def test_a_second_worker_joining_and_the_first_leaving_mid_file_lose_and_double_nothing(
    stack: Endpoints, unique: str, tmp_path: Path
) -> None:
    ff = fault_file(tmp_path / "data")
    async with deployment(stack, unique, tmp_path / "run") as d:
        d.start("bridge", "-m", "bridge")
        small = {"STREAMPROC_SINK_BATCH_SIZE": "10"}  # ~2000 batches: the file is still loading when they move
        d.start_worker("first", **small)
        await upload_file(d, ff)
        await until_loading(d, ff.key)
        d.start_worker("second", **small)  # joins: the groups rebalance mid-file

        async def second_has_partitions() -> bool:
            return "partitions assigned" in (d.logs / "second.log").read_text(errors="replace")

        await poll(second_has_partitions)
        left_at = await loaded(d, ff.key)
        d.stop("first")  # leaves cleanly mid-file: its partitions (and any split it held) move to the second
        outcome = Outcome(fault="a worker joins, then the first leaves, mid-file", notes={"loaded_at_leave": left_at})
        await assert_exact(d, ff, unique, outcome)
    assert left_at < ff.want.rows  # the first left while the file was loading

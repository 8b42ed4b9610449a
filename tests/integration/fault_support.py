"""Fault tests' common ground: a 20k-row file through the real processes, the checks every fault must pass,
private brokers and databases to stop, and a record of each fault's recovery time (test-output/faults.jsonl)."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.bench.data import BenchFile, Expected, checksum_query, expected, generate, upload
from devstack.deployment import Deployment
from devstack.kafka import Kafka
from devstack.postgres import Postgres
from devstack.process import free_port, wait_for
from devstack.settings import StackSettings
from devstack.stack import Endpoints
from streamproc.datasets import samples
from streamproc.kafka.reader import TopicReader
from streamproc.shared.settings import KafkaConnection

ROWS = 20_000
BAD_SHARE = 0.005
RESULTS = Path(__file__).resolve().parents[2] / "test-output" / "faults.jsonl"


@dataclass
class FaultFile:
    """The file a fault test loads, and what PostgreSQL must hold afterwards."""

    file: BenchFile
    want: Expected

    @property
    def key(self) -> str:
        return self.file.key

    @property
    def bad(self) -> int:
        return self.file.rows - self.want.rows


def fault_file(folder: Path) -> FaultFile:
    (f,) = generate(folder, total_rows=ROWS, files=1, claims_share=1.0, bad_share=BAD_SHARE)
    return FaultFile(file=f, want=expected([f], bad_share=BAD_SHARE)["pharmacy_claims"])


async def upload_file(d: Deployment, ff: FaultFile) -> None:
    await upload(d.stack.aws.client_kwargs(), d.aws.bucket, [ff.file])


@dataclass
class Outcome:
    """What a fault did: recovery seconds, row events on the topic per file row, and whether the rows are right."""

    fault: str
    recovery_seconds: float | None = None
    topic_ratio: float = 0.0
    rows: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def record(self) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as out:
            out.write(json.dumps(self.__dict__) + "\n")


async def loaded(d: Deployment, key: str) -> int:
    rows = await d.ledger([key])
    return int(rows[0]["rows_loaded"]) if rows else 0


async def poll(check: Callable[[], Awaitable[bool]], limit: float = 120.0, interval: float = 0.05) -> None:
    """Return once `check()` holds (an observable condition), failing the test after `limit` seconds."""
    async with asyncio.timeout(limit):
        while True:
            if await check():
                return
            await asyncio.sleep(interval)


async def moving_again(d: Deployment, key: str, since: int, limit: float = 120.0) -> float:
    """Seconds until the file's loaded rows go past `since` (the pipeline moves again), from now."""
    t0 = time.monotonic()

    async def past() -> bool:
        return await loaded(d, key) > since

    await poll(past, limit)
    return time.monotonic() - t0


async def until_loading(d: Deployment, key: str, limit: float = 120.0) -> int:
    """Wait until the sinks loaded a first batch of the file (so a fault lands mid-file); its loaded rows."""

    async def started() -> bool:
        return await loaded(d, key) > 0

    await poll(started, limit)
    return await loaded(d, key)


async def topic_records(bootstrap: str, topic: str) -> int:
    """Records ever written to the topic (the sum of its partitions' end offsets)."""
    reader = TopicReader(KafkaConnection(bootstrap_servers=bootstrap))
    await reader.start()
    try:
        return sum((await reader.end_offsets(topic)).values())
    finally:
        await reader.stop()


async def assert_exact(d: Deployment, ff: FaultFile, unique: str, outcome: Outcome) -> None:
    """Exact rows (count and checksum), the ledger reconciled, only bad rows dead-lettered, topic traffic <= 1.05."""
    (row,) = await d.wait_finished([ff.key], limit=240)
    async with await psycopg.AsyncConnection.connect(d.database_url) as conn:
        found = await (await conn.execute(checksum_query(ff.want))).fetchone()
    outcome.rows = found[0] if found else 0
    outcome.topic_ratio = (
        await topic_records(d.stack.kafka_bootstrap_servers, f"{unique}.claims.pharmacy") / ff.file.rows
    )
    outcome.record()
    assert found is not None and (found[0], found[1]) == (ff.want.rows, ff.want.checksum)
    assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("PARTIAL", ff.file.rows, ff.want.rows)
    assert (row["rows_dead_lettered"], row["rows_sink_rejected"]) == (ff.bad, 0)
    assert outcome.topic_ratio <= 1.05, f"{outcome.topic_ratio:.3f} row events per file row"


@pytest.fixture
async def private_kafka(tmp_path: Path) -> AsyncIterator[Kafka]:
    """A broker of this test's own (the shared one stays up), data kept across its restarts."""
    kafka = Kafka(
        StackSettings(state_dir=tmp_path / "kafka", kafka_port=free_port(), kafka_controller_port=free_port())
    )
    await start_service(kafka)
    try:
        yield kafka
    finally:
        await asyncio.to_thread(kafka.stop)


@pytest.fixture
async def private_postgres(tmp_path: Path) -> AsyncIterator[Postgres]:
    pg = Postgres(StackSettings(state_dir=tmp_path / "pg", postgres_port=free_port()))
    await start_service(pg)
    try:
        yield pg
    finally:
        await asyncio.to_thread(pg.stop)


async def start_service(service: Kafka | Postgres) -> None:
    await asyncio.to_thread(service.start)
    assert await asyncio.to_thread(wait_for, service.healthy, 120.0, 0.5), f"{service.name} did not start"
    after_ready: Callable[[], None] | None = getattr(service, "after_ready", None)
    if after_ready is not None:
        await asyncio.to_thread(after_ready)


def with_kafka(stack: Endpoints, kafka: Kafka) -> Endpoints:
    return replace(stack, kafka_bootstrap_servers=kafka.endpoint)


def with_postgres(stack: Endpoints, pg: Postgres) -> Endpoints:
    return replace(stack, database_url=pg.endpoint)


async def timed(action: Awaitable[None]) -> float:
    t0 = time.monotonic()
    await action
    return time.monotonic() - t0


def repeated_gzip(seed: int, prefix: str, repeats: int, distinct: int = 2000) -> bytes:
    """A claims header and `distinct` rows repeated `repeats` times, gzipped: many rows, tiny on S3."""
    body = samples.csv_bytes("pharmacy_claims", distinct, 0.0, seed=seed, prefix=prefix)
    header, rows = body.split(b"\r\n", 1)
    return gzip.compress(header + b"\r\n" + rows * repeats, compresslevel=6)

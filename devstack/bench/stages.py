"""Stage figures in one process on the real stack: the fan-out alone, one sink alone, the sink ceiling, the baseline."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aioboto3
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import sql

from devstack.bench.data import BenchFile, Expected, checksum_query, mismatches, upload
from devstack.bench.profile import Spy
from devstack.harness import Harness, running_pipeline
from devstack.stack import Endpoints
from streamproc.adapters import sink_sql
from streamproc.adapters.postgres import Database
from streamproc.adapters.row_store import RowStore
from streamproc.contract.events import ObjectEvent
from streamproc.datasets.model import Dataset
from streamproc.ingest.deadletter_writer import DeadLetterWriter
from streamproc.ingest.sink import SinkConsumer
from streamproc.shared.delivery import Delivery
from streamproc.shared.records import TopicPart


@dataclass(frozen=True)
class StageRun:
    """One run of the in-process stages: rows/s of each, and what went wrong (nothing, when correct)."""

    fanout: float
    sink: float
    ceiling: float
    problems: list[str]
    values: list[tuple[int, bytes]]  # the claims topic's events: the ceiling's input, reused by later runs
    notes: list[str]  # e.g. why a profile asked for was not written


async def stage_run(
    endpoints: Endpoints,
    files: list[BenchFile],
    want: dict[str, Expected],
    *,
    values: list[tuple[int, bytes]] | None = None,
    profiles: Path | None = None,
) -> StageRun:
    """Fan-out of every file, then one claims sink over the filled topic, then the ceiling over the same events
    (`values`: the claims topic's events of an earlier run, else read from this one's topic). With `profiles`,
    py-spy records this process during the fan-out and during the sink into that folder."""
    unique = uuid.uuid4().hex[:10]
    problems: list[str] = []
    notes: list[str] = []
    async with running_pipeline(endpoints, unique, run_sinks=False, sink_batch_size=5000) as h:
        await upload(endpoints.aws.client_kwargs(), h.bucket, files)
        events = [await _event(h, f) for f in files]
        spy = Spy(os.getpid(), profiles / "profile-fanout.speedscope.json") if profiles else None
        t0 = time.perf_counter()
        for event in events:
            await h.ingest(event)
        fanout = sum(f.rows for f in files) / (time.perf_counter() - t0)
        notes += _stopped(spy)
        claims = h.registry.by_name("pharmacy_claims")
        spy = Spy(os.getpid(), profiles / "profile-sink.speedscope.json") if profiles else None
        sink_rate = await _one_sink(h, claims, want["pharmacy_claims"].rows)
        notes += _stopped(spy)
        problems += await _verify(h.database_url, {"pharmacy_claims": want["pharmacy_claims"]})
        values = values or await _topic_values(h, claims.topic)
    ceiling, ceiling_problems = await sink_ceiling(endpoints, claims, values, want["pharmacy_claims"])
    return StageRun(
        fanout=fanout, sink=sink_rate, ceiling=ceiling, problems=problems + ceiling_problems, values=values, notes=notes
    )


def _stopped(spy: Spy | None) -> list[str]:
    why = spy.stop() if spy is not None else None
    return [f"no profile: {why}"] if why else []


async def _event(h: Harness, f: BenchFile) -> ObjectEvent:
    session = aioboto3.Session()
    async with session.client("s3", **h.stack.aws.client_kwargs()) as s3:
        head = await s3.head_object(Bucket=h.bucket, Key=f.key)
    return ObjectEvent(
        bucket=h.bucket,
        key=f.key,
        size=head["ContentLength"],
        etag=head["ETag"].strip('"'),
        event_name="ObjectCreated:Put",
        event_time=datetime.now(UTC),
    )


async def _one_sink(h: Harness, dataset: Dataset, rows: int) -> float:
    """One sink consumer drains the dataset's topic from the earliest offset into the harness schema."""
    sink = h.pipeline.new_sink(dataset, group_id=f"bench-{uuid.uuid4().hex[:8]}")
    return await _drain(sink, rows)


async def _drain(sink: SinkConsumer, rows: int) -> float:
    stopping = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(sink.run(stopping))
    while True:  # polled: the sink keeps counters, not events
        if sink.stats.rows_written + sink.stats.rows_rejected >= rows or task.done():
            break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - t0
    stopping.set()
    await task
    return rows / elapsed


async def _topic_values(h: Harness, topic: str) -> list[tuple[int, bytes]]:
    """Every (partition, value) of the topic, read once so the ceiling measures no Kafka."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=h.stack.kafka_bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()) or await _partitions(consumer, topic))
        total = sum(ends.values())
        got: list[tuple[int, bytes]] = []
        while len(got) < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=50_000)
            got += [(r.partition, r.value) for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return got


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[Any]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


class _NoKafka:
    """The ceiling's producer: the events it loads are valid, so nothing is dead-lettered; if it were, say so."""

    ack_timeout = 1.0

    async def send(self, topic: str, items: Iterable[tuple[bytes, bytes]]) -> Delivery:
        msg = "the sink ceiling dead-lettered a row: its events should all be valid"
        raise RuntimeError(msg)


@dataclass(frozen=True)
class _Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


class MemorySource:
    """The sink's RecordSource over events held in memory: the ceiling runs the sink's own code, minus Kafka."""

    def __init__(self, topic: str, values: Sequence[tuple[int, bytes]]) -> None:
        self._records = [_Record(topic, p, n, v) for n, (p, v) in enumerate(values)]
        self._next = 0

    def __call__(self, **_hooks: Any) -> MemorySource:
        return self

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> Sequence[_Record]:
        await asyncio.sleep(0)
        batch = self._records[self._next : self._next + (max_records or 5000)]
        self._next += len(batch)
        return batch

    async def commit(self, offsets: Mapping[TopicPart, int]) -> None:
        return None

    def assignment(self) -> set[TopicPart]:
        return set()

    def highwater(self, where: TopicPart) -> int | None:
        return None


async def sink_ceiling(
    endpoints: Endpoints, dataset: Dataset, values: Sequence[tuple[int, bytes]], want: Expected
) -> tuple[float, list[str]]:
    """The fastest idempotent load of these row events: the sink's decode -> COPY -> staging -> upsert + ledger."""
    schema = f"ceiling_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(endpoints.database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = f"{endpoints.database_url}?options=-csearch_path%3D{schema}"
    db = Database(url)
    await db.start()
    try:
        await db.migrate([dataset])
        sink = SinkConsumer(
            dataset=dataset,
            source=MemorySource(dataset.topic, values),
            store=RowStore(db),
            letters=DeadLetterWriter(_NoKafka(), "ceiling.deadletter"),
            batch_size=5000,
            batch_seconds=0.5,
        )
        rate = await _drain(sink, len(values))
    finally:
        await db.stop()
    return rate, await _verify(url, {dataset.name: want})


async def _verify(database_url: str, want: dict[str, Expected]) -> list[str]:
    found = {}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for dataset, expect in want.items():
            row = await (await conn.execute(checksum_query(expect))).fetchone()
            found[dataset] = {"n": row[0], "sum": row[1]} if row else {"n": 0, "sum": ""}
    return mismatches(found, want)


def per_row_baseline(database_url: str, dataset: Dataset, rows: Sequence[Sequence[Any]]) -> float:
    """What a seed-style loader does: one INSERT and one commit per row, into a table like the dataset's."""
    schema = f"baseline_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(sink_sql.create_table(dataset))
        conn.commit()
        columns = sink_sql.column_names(dataset)
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(dataset.table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        t0 = time.perf_counter()
        for row in rows:
            conn.execute(insert, row)
            conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.commit()
    return len(rows) / elapsed

"""The bad-input corpus (tests/data/corpus/manifest.toml) through the real fan-out, sinks and bridge relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aioboto3
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from psycopg import sql

from bridge import bootstrap
from devstack.harness import Harness, running_pipeline
from devstack.stack import Endpoints
from streamproc.contract.events import DEAD_LETTER_DECODER, OBJECT_EVENT_DECODER, DeadLetter, ObjectEvent
from streamproc.datasets.registry import load_registry
from streamproc.ingest.rejections import FileRejected
from tests.integration.corpus_cases import (
    FILE_CASES,
    MEMBER_ID,
    NOTIFICATION_CASES,
    FileCase,
    NotificationCase,
    Reject,
    by_line,
    flat,
    params,
    rule_ids,
)
from tests.integration.test_bridge_support import bridge_settings, eventually, provision_unique, queue_depth


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic`, from the start to the end offsets of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    got: list[ConsumerRecord[bytes, bytes]] = []
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        async with asyncio.timeout(60):
            while [p for p in parts if await consumer.position(p) < ends[p]]:
                batch = await consumer.getmany(*parts, timeout_ms=500)
                got += [record for records in batch.values() for record in records]
    finally:
        await consumer.stop()
    return got


@dataclass(frozen=True)
class FileRun:
    """What the pipeline made of every file case: ledger rows, reasons, dead letters, values read back."""

    ledger: dict[str, dict[str, Any]]
    rejects: dict[str, list[Reject]]
    letters: dict[str, list[DeadLetter]]
    stored: dict[str, list[tuple[str | None, str | None]]]
    table_rows: dict[str, int]


async def upload_all(h: Harness, bodies: dict[str, bytes]) -> list[ObjectEvent]:
    """Put every object with one client, and return the events S3 would announce (what the bridge relays)."""
    session = aioboto3.Session()
    events = []
    async with session.client("s3", **h.stack.aws.client_kwargs()) as s3:
        for key, body in bodies.items():
            put = await s3.put_object(Bucket=h.bucket, Key=key, Body=body)
            etag = put["ETag"].strip('"')
            name, now = "ObjectCreated:Put", datetime.now(UTC)
            events.append(
                ObjectEvent(bucket=h.bucket, key=key, size=len(body), etag=etag, event_name=name, event_time=now)
            )
    return events


async def read_back(h: Harness, ledger: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, int]]:
    """Each case's `stored` values as text (and the column's type where the case names one), by natural key;
    and the rows in each dataset's table."""
    out: dict[str, list[tuple[str | None, str | None]]] = {}
    async with await psycopg.AsyncConnection.connect(h.database_url) as conn:
        counts = {
            d.name: (
                await (
                    await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(d.table)))
                ).fetchall()
            )[0][0]
            for d in h.registry
        }
        for case in FILE_CASES:
            for s in case.stored:
                dataset = h.registry.by_name(ledger[case.key]["dataset"])
                query = sql.SQL("SELECT {c}::text, pg_typeof({c})::text FROM {t} WHERE {k} = %s").format(
                    c=sql.Identifier(s.column), t=sql.Identifier(dataset.table), k=sql.Identifier(dataset.natural_key)
                )
                found = await (await conn.execute(query, (s.id,))).fetchall()
                value, kind = found[0] if len(found) == 1 else (f"{len(found)} rows", None)
                out.setdefault(case.id, []).append((value, kind if s.type else None))
    return out, counts


@pytest.fixture(scope="module")
async def file_run(stack: Endpoints) -> AsyncIterator[FileRun]:
    """Every file case through one pipeline (fan-out and sinks, in-process, on the real stack)."""
    keys = [c.key for c in FILE_CASES]
    async with running_pipeline(stack, uuid.uuid4().hex[:10]) as h:
        for event in await upload_all(h, {c.key: c.body() for c in FILE_CASES}):
            await h.ingest(event)
        await h.wait_finished(keys, limit=120)
        await h.wait_drained()  # a FAILED file's rows read before the failure load after it is marked
        ledger = {r["key"]: r for r in await h.wait_finished(keys)}
        rejects: dict[str, list[Reject]] = {}
        query = "SELECT key, line, error_class, errors FROM ingest_file_rejects JOIN ingest_files ON id = file_id"
        for r in await h.query(query):
            rejects.setdefault(r["key"], []).extend(flat(r["line"], r["error_class"], r["errors"]))
        letters: dict[str, list[DeadLetter]] = {}
        for record in await read_topic(stack.kafka_bootstrap_servers, h.settings.topics.deadletter, 3):
            letter = DEAD_LETTER_DECODER.decode(record.value)
            letters.setdefault(letter.key or "", []).append(letter)
        stored, tables = await read_back(h, ledger)
        yield FileRun(ledger, {k: by_line(v) for k, v in rejects.items()}, letters, stored, tables)


@pytest.mark.parametrize("case", params(FILE_CASES))
async def test_each_bad_file_ends_as_its_manifest_entry_says(case: FileCase, file_run: FileRun) -> None:
    row = file_run.ledger[case.key]  # found by its exact key: hostile keys round-trip
    counts = (row["status"], row["rows_read"], row["rows_loaded"], row["rows_dead_lettered"], row["unknown_columns"])
    assert counts == (case.status, case.rows_read, case.rows_loaded, case.rows_dead_lettered, case.unknown_columns)
    assert row["rows_read"] == row["rows_loaded"] + row["rows_dead_lettered"]  # the ledger reconciles
    letters = file_run.letters.get(case.key, [])
    file_letters = [(d.error_class, d.line, d.dataset == row["dataset"]) for d in letters if d.line is None]
    if case.error_class is not None:
        assert case.summary is not None and case.summary in row["error_summary"]
        assert file_letters == [(case.error_class, None, True)]
        assert all(case.summary in d.reason for d in letters if d.line is None)
    else:
        assert (row["error_summary"], file_letters) == (None, [])
    assert file_run.rejects.get(case.key, []) == by_line(case.rejects)  # the ledger's reasons
    row_letters = [r for d in letters if d.line is not None for r in flat(d.line, d.error_class, d.errors)]
    assert by_line(row_letters) == by_line(case.rejects)  # the dead-letter topic says the same
    assert all(MEMBER_ID not in (d.raw or "") and d.stage == "split" and not d.retriable for d in letters)
    assert file_run.stored.get(case.id, []) == [(s.value, s.type) for s in case.stored]


def test_the_tables_hold_exactly_the_rows_the_ledger_counts_as_loaded(file_run: FileRun) -> None:
    loaded: dict[str, int] = {}
    for row in file_run.ledger.values():
        if row["dataset"] is not None:
            loaded[row["dataset"]] = loaded.get(row["dataset"], 0) + row["rows_loaded"]
    assert file_run.table_rows == loaded  # every corpus row has its own natural key; SQL text dropped nothing


@dataclass(frozen=True)
class RelayRun:
    """What the relay made of some notification cases: dead letters by SQS message, object events, the queue."""

    message_ids: dict[str, str]
    letters: dict[str, list[tuple[bytes, DeadLetter]]]
    events: list[tuple[bytes, ObjectEvent]]
    left_in_queue: int
    deleted: int  # messages deleted: one per case, plus the s3:TestEvent provisioning sends


async def relay_cases(stack: Endpoints, cases: Sequence[NotificationCase], patience: float = 60.0) -> RelayRun:
    """The cases sent to a queue of their own and relayed by one Relay (real SQS and Kafka); a crash is raised."""
    unique = uuid.uuid4().hex[:10]
    made = provision_unique(stack, unique)  # configuring the notification also sends one s3:TestEvent
    settings = bridge_settings(stack, made, unique)
    relay = bootstrap.relay(settings)
    session = aioboto3.Session()
    async with session.client("sqs", **stack.aws.client_kwargs()) as sqs:
        task = asyncio.create_task(relay.run())
        try:
            ids = {
                c.id: (await sqs.send_message(QueueUrl=made.queue_url, MessageBody=c.text()))["MessageId"]
                for c in cases
            }
            wanted = len(ids) + 1
            await eventually(lambda: task.done() or relay.stats.deleted >= wanted, "every message deleted", patience)
            left = await queue_depth(sqs, made.queue_url)
        finally:
            relay.stop()
            await task
    letters: dict[str, list[tuple[bytes, DeadLetter]]] = {}
    for record in await read_topic(stack.kafka_bootstrap_servers, settings.topics.deadletter, 3):
        letter = DEAD_LETTER_DECODER.decode(record.value)
        letters.setdefault(letter.source_message_id or "", []).append((record.value, letter))
    events = await read_topic(stack.kafka_bootstrap_servers, settings.topics.objects, 3)
    decoded = [(r.value, OBJECT_EVENT_DECODER.decode(r.value)) for r in events]
    return RelayRun(ids, letters, decoded, left, relay.stats.deleted)


@pytest.fixture(scope="module")
async def relay_run(stack: Endpoints) -> RelayRun:
    """Every notification case but the known bugs through one relay (a bug case runs alone: it may stop the relay)."""
    return await relay_cases(stack, [c for c in NOTIFICATION_CASES if c.xfail is None])


@pytest.mark.parametrize("case", params(NOTIFICATION_CASES))
async def test_each_bad_notification_is_dead_lettered_with_a_reason_and_deleted(
    case: NotificationCase, stack: Endpoints, relay_run: RelayRun
) -> None:
    run = relay_run if case.xfail is None else await relay_cases(stack, [case], patience=20.0)
    assert (run.left_in_queue, run.deleted) == (0, len(run.message_ids) + 1)
    letters = run.letters.get(run.message_ids[case.id], [])
    assert len(letters) == case.dead_letters
    for value, letter in letters:
        assert (letter.stage, letter.error_class, letter.retriable) == ("bridge", case.error_class, False)
        assert case.reason is not None and case.reason in letter.reason
        assert (letter.raw or "").startswith("unparsed body withheld: ")  # a digest, never the body
        assert len(value) < 2048  # whatever the body's size
    assert len([e for _, e in run.events if case.id in e.key]) == case.events
    if case.marker is not None:
        everything = [v for found in run.letters.values() for v, _ in found] + [v for v, _ in run.events]
        assert not [v for v in everything if case.marker.encode() in v]


def test_the_corpus_breaks_every_rule_of_both_datasets_and_every_file_level_refusal() -> None:
    for dataset in load_registry(()):
        rules = {"required"} | {r for c in dataset.columns for r in rule_ids(c.rule.check)}
        rules |= {r for check in dataset.row_checks for r in rule_ids(check.check)}
        broken = {r.rule for c in FILE_CASES if c.key.startswith(f"{dataset.name}/") for r in c.rejects}
        assert rules <= broken, f"{dataset.name}: no case breaks {sorted(rules - broken)}"
    row_level = {"field_count", "csv_syntax", "text_after_closing_quote", "utf8", "record_too_large"}
    assert row_level <= {r.rule for c in FILE_CASES for r in c.rejects}
    refusals = {cls.__name__ for cls in FileRejected.__subclasses__()}
    assert refusals <= {c.error_class for c in FILE_CASES}
    ids, keys = [c.id for c in (*FILE_CASES, *NOTIFICATION_CASES)], [c.key for c in FILE_CASES]
    assert len(set(ids)) == len(ids) >= 30
    assert len(set(keys)) == len(keys)

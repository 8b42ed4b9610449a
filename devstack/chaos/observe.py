"""What the checker reads once the run is over: the ledger and its rejects, the tables, the row and dead-letter
topics from the beginning, and the SQS DLQ bodies the run drained."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import msgspec
import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from psycopg import sql
from psycopg.rows import dict_row

from devstack.chaos.checker import LETTER, ROW_EVENT, Observed, Version
from devstack.chaos.generator import NATURAL_KEY
from devstack.deployment import Deployment

PARTITIONS = 3  # what devstack.deployment gives every topic (STREAMPROC_TOPIC_PARTITIONS)


async def observe(d: Deployment, row_topics: list[str], letter_topic: str, dlq: list[dict[str, Any]]) -> Observed:
    ledger, rejects, tables = await _database(d)
    row_events: dict[Version, Counter[int]] = defaultdict(Counter)
    for topic in row_topics:
        for value in await read_topic(d.stack.kafka_bootstrap_servers, topic):
            try:
                p = ROW_EVENT.decode(value).provenance
            except msgspec.DecodeError:
                continue
            row_events[(p.key, p.version)][p.line] += 1
    letters: dict[Version, Counter[tuple[int | None, str]]] = defaultdict(Counter)
    classes: dict[Version, set[str]] = defaultdict(set)
    for value in await read_topic(d.stack.kafka_bootstrap_servers, letter_topic):
        try:
            letter = LETTER.decode(value)
        except msgspec.DecodeError:
            continue
        if letter.key is not None and letter.version is not None:
            letters[(letter.key, letter.version)][(letter.line, letter.stage)] += 1
            if letter.error_class:
                classes[(letter.key, letter.version)].add(letter.error_class)
    drained: dict[Version, Counter[tuple[int | None, str]]] = defaultdict(Counter)
    other: list[str] = []
    for body in dlq:
        key, version, stage = body.get("key"), body.get("version"), body.get("stage")
        if isinstance(key, str) and isinstance(version, str) and isinstance(stage, str):
            line = body.get("line")
            drained[(key, version)][(line if isinstance(line, int) else None, stage)] += 1
        else:
            other.append(str(body)[:300])
    return Observed(ledger, rejects, tables, row_events, letters, classes, drained, other)


async def _database(
    d: Deployment,
) -> tuple[dict[Version, dict[str, Any]], dict[Version, set[int]], dict[str, dict[str, tuple[str, str, int]]]]:
    async with await psycopg.AsyncConnection.connect(d.database_url, row_factory=dict_row) as conn:
        cur = await conn.execute("SELECT * FROM ingest_files")
        ledger = {(str(r["key"]), str(r["version"])): r for r in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT f.key, f.version, r.line FROM ingest_file_rejects r JOIN ingest_files f ON f.id = r.file_id "
            "WHERE r.stage = 'split'"
        )
        rejects: dict[Version, set[int]] = defaultdict(set)
        for r in await cur.fetchall():
            rejects[(str(r["key"]), str(r["version"]))].add(int(r["line"]))
        tables: dict[str, dict[str, tuple[str, str, int]]] = {}
        for dataset, natural in NATURAL_KEY.items():
            query = sql.SQL("SELECT {k} AS k, src_key, src_version, src_line FROM {t}").format(
                k=sql.Identifier(natural), t=sql.Identifier(dataset)
            )
            try:
                cur = await conn.execute(query)
            except psycopg.errors.UndefinedTable:
                await conn.rollback()
                tables[dataset] = {}
                continue
            tables[dataset] = {
                str(r["k"]): (str(r["src_key"]), str(r["src_version"]), int(r["src_line"]))
                for r in await cur.fetchall()
            }
    return ledger, dict(rejects), tables


async def read_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> list[bytes]:
    """Every record value of `topic`, from the beginning to its end offsets now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        values: list[bytes] = []
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=20_000)
            for records in batch.values():
                values += [r.value for r in records if r.value is not None]
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
        return values
    finally:
        await consumer.stop()

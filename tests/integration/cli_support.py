"""Helpers of the CLI's integration tests (no tests here): run commands, fingerprint the database, wait for lag 0."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from streamproc.kafka.groups import GroupAdmin
from streamproc.kafka.resets import UnknownGroup
from streamproc.kafka.tail import TailReader
from streamproc.shared.settings import KafkaConnection

PATIENCE = 180.0  # upper bound for the real processes on a busy machine; a healthy run takes a fraction
TABLES = ("pharmacy_claims", "audit_records", "ingest_file_progress")
# Every column of the ledger that a replay or a duplicate must leave alone (updated_at may be touched).
LEDGER = (
    "bucket", "key", "version", "dataset", "status", "size", "etag", "event_time", "rows_read", "rows_valid",
    "rows_rejected", "rows_loaded", "rows_sink_rejected", "rows_dead_lettered", "unknown_columns", "split_done",
    "error_summary", "attempts", "duplicate_events", "received_at", "started_at", "finished_at",
)  # fmt: skip


async def cli(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m streamproc ARGS` as an operator runs it, with this deployment's environment."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streamproc", *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=PATIENCE,
    )


async def kafka_tool(env: Mapping[str, str], tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One of Kafka's own tools through `python -m devstack kafka TOOL ARGS`."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "devstack", "kafka", tool, *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=PATIENCE,
    )


async def fingerprint(database_url: str) -> dict[str, Any]:
    """Row count and an md5 over every row of each table, the rejects without their timestamps, the ledger's counts."""
    queries: dict[str, sql.SQL | sql.Composed] = {
        table: sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
        ).format(sql.Identifier(table))
        for table in TABLES
    }
    queries["ingest_file_rejects"] = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(concat_ws(',', file_id, line, stage, error_class, errors::text), '|' "
        "ORDER BY file_id, line), '')) FROM ingest_file_rejects"
    )
    queries["ingest_files"] = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
        "FROM (SELECT {} FROM ingest_files) t"
    ).format(sql.SQL(", ").join(map(sql.Identifier, LEDGER)))
    found: dict[str, Any] = {}
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for name, query in queries.items():
            row = await (await conn.execute(query)).fetchone()
            found[name] = tuple(row) if row else None
    return found


async def ledger_row(database_url: str, key: str) -> dict[str, Any] | None:
    async with await psycopg.AsyncConnection.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        cur = await conn.execute("SELECT * FROM ingest_files WHERE key = %s ORDER BY id DESC LIMIT 1", (key,))
        return await cur.fetchone()


async def wait_for_row(database_url: str, key: str, ready: Any, what: str) -> dict[str, Any]:
    """The ledger row of `key` once `ready(row)` holds."""
    deadline = time.monotonic() + PATIENCE
    while True:
        row = await ledger_row(database_url, key)
        if row is not None and ready(row):
            return row
        if time.monotonic() > deadline:
            msg = f"{key}: not {what} within {PATIENCE:.0f}s: {row}"
            raise AssertionError(msg)
        await asyncio.sleep(0.3)


async def committed(conn: KafkaConnection, group: str) -> dict[tuple[str, int], int]:
    async with GroupAdmin(conn) as admin:
        try:
            return dict((await admin.describe(group)).committed)
        except UnknownGroup:
            return {}


async def wait_caught_up(conn: KafkaConnection, groups: Mapping[str, str]) -> None:
    """Until each group (-> its topic) has committed the end of every non-empty partition: lag 0."""
    deadline = time.monotonic() + PATIENCE
    async with GroupAdmin(conn) as admin:
        while True:
            lagging = []
            for group, topic in groups.items():
                try:
                    description = await admin.describe(group)
                except UnknownGroup:
                    lagging.append(f"{group}: no commits yet")
                    continue
                states = await admin.partition_states(description, [topic])
                lagging += [f"{group} {topic}[{p.partition}] lag {p.lag}" for p in states if p.log_end and p.lag != 0]
            if not lagging:
                return
            if time.monotonic() > deadline:
                msg = f"sinks not caught up within {PATIENCE:.0f}s: {lagging}"
                raise AssertionError(msg)
            await asyncio.sleep(0.5)


async def wait_members(conn: KafkaConnection, groups: Sequence[str], *, present: bool) -> None:
    """Until every group has active members (present) or none (not present)."""
    deadline = time.monotonic() + PATIENCE
    async with GroupAdmin(conn) as admin:
        while True:
            counts = {}
            for group in groups:
                try:
                    counts[group] = len((await admin.describe(group)).members)
                except UnknownGroup:
                    counts[group] = 0
            if all((n > 0) == present for n in counts.values()):
                return
            if time.monotonic() > deadline:
                msg = f"members not {'present' if present else 'gone'} within {PATIENCE:.0f}s: {counts}"
                raise AssertionError(msg)
            await asyncio.sleep(0.3)


async def messages_on(conn: KafkaConnection, topic: str) -> int:
    """How many records the topic holds (nothing is deleted in a test's lifetime)."""
    async with TailReader(conn) as reader:
        return sum(end - start for start, end in (await reader.bounds(topic)).values())

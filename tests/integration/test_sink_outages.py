"""A sink under a database outage: it waits and retries in place, dead-letters nothing, and loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack.harness import Harness, running_pipeline
from devstack.postgres import Postgres
from devstack.process import free_port, wait_for
from devstack.settings import StackSettings
from devstack.stack import Endpoints
from streamproc.adapters.ledger_reader import LedgerReader
from streamproc.datasets import samples
from streamproc.ingest.sink import SinkConsumer
from streamproc.web.health import SinkState, sinks_check
from tests.integration.test_bridge_support import eventually


def _start(pg: Postgres) -> None:
    pg.start()
    assert wait_for(pg.healthy, 60), "private PostgreSQL did not become healthy"
    pg.after_ready()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[Postgres]:
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    pg = Postgres(StackSettings(state_dir=tmp_path / "stack", postgres_port=free_port()))
    _start(pg)
    try:
        yield pg
    finally:
        pg.stop()


def _sink(h: Harness, unique: str) -> SinkConsumer:
    return h.pipeline.new_sink(
        h.registry.by_name("pharmacy_claims"),
        group_id=f"outage-{unique}",
        batch_size=500,
        batch_seconds=0.2,
        backoff_cap=1.0,
        shutdown_grace=1.0,
    )


@pytest.mark.slow
async def test_a_database_outage_holds_the_sink_until_it_returns_and_loses_nothing(
    stack: Endpoints, unique: str, private_postgres: Postgres
) -> None:
    async with running_pipeline(
        stack, unique, run_sinks=False, server_url=private_postgres.endpoint, sink_batch_size=500
    ) as h:
        event = await h.upload("pharmacy_claims/outage.csv", samples.csv_bytes("pharmacy_claims", 3000, 0.0, seed=9))
        await h.ingest(event)  # rows are on the topic; the ledger knows the file
        await asyncio.to_thread(private_postgres.stop)
        first = _sink(h, unique)
        stopping = asyncio.Event()
        task = asyncio.create_task(first.run(stopping))
        await eventually(lambda: first.stats.write_retries >= 3, "three retries of the held batch")  # no database
        assert not task.done()
        assert (first.stats.rows_written, first.stats.rows_rejected, first.stats.batches) == (0, 0, 0)
        stopping.set()  # a worker shut down mid-outage abandons its batch uncommitted...
        await asyncio.wait_for(task, 30)
        await asyncio.to_thread(_start, private_postgres)
        second = _sink(h, unique)  # ...and the next owner of the partitions reads it again
        stopping = asyncio.Event()
        task = asyncio.create_task(second.run(stopping))
        try:
            (row,) = await h.wait_finished([event.key], limit=90)
        finally:
            stopping.set()
            await asyncio.wait_for(task, 30)
        assert (row["status"], row["rows_read"], row["rows_loaded"], row["rows_dead_lettered"]) == (
            "COMPLETED",
            3000,
            3000,
            0,
        )
        assert (await h.query("SELECT count(*) AS n FROM pharmacy_claims"))[0]["n"] == 3000
        assert (second.stats.rows_written, second.stats.rows_rejected) == (3000, 0)


async def _execute(url: str, statement: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(statement.encode())


async def test_a_sink_whose_table_is_gone_holds_its_rows_says_why_and_the_other_sink_and_files_go_on(
    stack: Endpoints, unique: str
) -> None:
    async with running_pipeline(stack, unique, retry_backoff_cap=0.5) as h:
        claims = h.pipeline.sinks[[s.dataset.name for s in h.pipeline.sinks].index("pharmacy_claims")]
        table = h.table("pharmacy_claims")
        await _execute(h.database_url, f"ALTER TABLE {table} RENAME TO {table}_away")  # an operator's mistake
        held = await h.upload("pharmacy_claims/held.csv", samples.csv_bytes("pharmacy_claims", 800, 0.0, seed=3))
        await h.ingest(held)
        audits = await h.upload("audit_records/next.csv", samples.csv_bytes("audit_records", 300, 0.0, seed=4))
        await h.ingest(audits)
        (done,) = await h.wait_finished([audits.key])  # the work behind the failing sink is not blocked
        assert (done["status"], done["rows_loaded"]) == ("COMPLETED", 300)
        await eventually(lambda: claims.stats.write_retries >= 3, "the claims sink retrying its batch")
        assert claims.stats.last_error is not None
        assert "SQLSTATE 42P01" in claims.stats.last_error  # undefined table: said, never dead-lettered
        await asyncio.sleep(1.2)
        state = SinkState(
            dataset="pharmacy_claims",
            failing_since=claims.stats.failing_since,
            last_error=claims.stats.last_error,
            restarts=claims.stats.restarts,
        )
        verdict = sinks_check([state], now=time.time(), after=1.0)
        assert not verdict.ok
        assert verdict.reason is not None
        assert verdict.reason.startswith("sink pharmacy_claims: failing for")
        reader = LedgerReader(h.database_url)
        await reader.start()
        try:
            stalled = await reader.stalled(quiet=1.0)
        finally:
            await reader.stop()
        assert [(r["key"], r["status"]) for r in stalled] == [(held.key, "PROCESSING")]
        await _execute(h.database_url, f"ALTER TABLE {table}_away RENAME TO {table}")  # put right
        (row,) = await h.wait_finished([held.key])
        assert (row["status"], row["rows_loaded"], row["rows_dead_lettered"]) == ("COMPLETED", 800, 0)
        await eventually(lambda: claims.stats.failing_since is None, "the sink no longer failing")

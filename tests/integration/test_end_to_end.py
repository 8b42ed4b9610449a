"""The real processes: `python -m bridge` and `python -m streamproc worker`, from an S3 upload to PostgreSQL rows,
including a worker killed with SIGKILL in the middle of a file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aioboto3
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from devstack.process import Owned, free_port, read_owned, spawn, stop
from devstack.provision import Provisioned, provision
from devstack.settings import AwsNames
from devstack.stack import Endpoints
from streamproc import samples

FINAL = ("COMPLETED", "PARTIAL", "FAILED")


@dataclass
class Deployment:
    stack: Endpoints
    aws: Provisioned
    database_url: str
    env: dict[str, str]
    logs: Path

    def start(self, name: str, *args: str) -> Owned:
        return spawn(
            [sys.executable, *args],
            pid_file=self.logs / f"{name}.pid",
            log_file=self.logs / f"{name}.log",
            env=self.env,
        )

    def stop(self, name: str) -> None:
        stop(self.logs / f"{name}.pid", timeout=30)

    def kill(self, name: str) -> None:
        owned = read_owned(self.logs / f"{name}.pid")
        assert owned is not None, f"{name} is not running"
        os.kill(owned.pid, signal.SIGKILL)
        stop(self.logs / f"{name}.pid", timeout=10)  # reaps it

    async def upload(self, key: str, body: bytes) -> None:
        session = aioboto3.Session()
        async with session.client("s3", **self.stack.aws.client_kwargs()) as s3:
            await s3.put_object(Bucket=self.aws.bucket, Key=key, Body=body)

    async def ledger(self, keys: list[str]) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(self.database_url, row_factory=dict_row) as conn:
            try:
                cur = await conn.execute("SELECT * FROM ingest_files WHERE key = ANY(%s) ORDER BY key", (keys,))
            except psycopg.errors.UndefinedTable:
                return []  # the worker has not migrated yet
            return await cur.fetchall()

    async def wait_finished(self, keys: list[str], limit: float = 120.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + limit
        while True:
            rows = await self.ledger(keys)
            if len(rows) == len(keys) and all(r["status"] in FINAL for r in rows):
                return rows
            if time.monotonic() > deadline:
                logs = {p.name: p.read_text(errors="replace")[-3000:] for p in self.logs.glob("*.log")}
                msg = f"not finished in {limit}s: {[(r['key'], r['status']) for r in rows]}\n{logs}"
                raise AssertionError(msg)
            await asyncio.sleep(0.5)

    async def count(self, table: str) -> int:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            row = await cur.fetchone()
        return int(row[0]) if row else -1


@asynccontextmanager
async def deployment(stack: Endpoints, unique: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    """Unique bucket, queues, topics, consumer groups and schema; bridge and worker stopped afterwards."""
    names = replace(AwsNames(), bucket=f"e2e-{unique}", queue=f"q-{unique}", dlq=f"dlq-{unique}")
    made = provision(stack.aws, names)
    schema = f"e2e_{unique}"
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    database_url = f"{stack.database_url}?options=-csearch_path%3D{schema}"
    env = {
        **os.environ,
        **stack.env(),
        "DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        "STREAMPROC_QUEUE_URL": made.queue_url,
        "STREAMPROC_DLQ_URL": made.dlq_url,
        "BRIDGE_WAIT_SECONDS": "1",
        "BRIDGE_DLQ_GROUP": f"dlq-mirror-{unique}",
        "STREAMPROC_TOPIC_NAMESPACE": f"{unique}.",
        "STREAMPROC_TOPIC_PARTITIONS": "3",
        "STREAMPROC_APP_ID": f"e2e-{unique}",
        "STREAMPROC_WEB_PORT": str(free_port()),
        "BRIDGE_HTTP_PORT": str(free_port()),
        "STREAMPROC_DATA_DIR": str(tmp_path / "faust"),
    }
    d = Deployment(stack, made, database_url, env, tmp_path)
    try:
        yield d
    finally:
        d.stop("worker")
        d.stop("bridge")


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
        while True:  # kill it once it is part-way through the file
            rows = await d.ledger(["pharmacy_claims/big.csv"])
            if rows and rows[0]["status"] == "PROCESSING":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        d.kill("worker")
        d.start("worker", "-m", "streamproc", "worker", "--loglevel=info")
        (row,) = await d.wait_finished(["pharmacy_claims/big.csv"], limit=180)
        assert (row["status"], row["rows_read"], row["rows_loaded"]) == ("COMPLETED", 60_000, 60_000)
        assert await d.count("pharmacy_claims") == 60_010

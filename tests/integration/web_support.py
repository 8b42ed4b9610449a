"""Helpers for the stats page's tests: a worker (and bridge) as real processes with their own ports, and HTTP.

This module holds no tests. Each deployment has its own bucket, queues, topics, consumer groups, schema
and ports; waits poll an observable condition (an HTTP answer, the ledger via the API) up to a limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aioboto3
import aiohttp
import psycopg
from psycopg import sql

from devstack.process import free_port, spawn, stop
from devstack.provision import Provisioned, provision
from devstack.settings import AwsNames
from devstack.stack import Endpoints

FINAL = ("COMPLETED", "PARTIAL", "FAILED")
COUNTS = ("valid", "loaded", "rejected", "sink_rejected")
PATIENCE = 90.0  # seconds; a healthy run needs a fraction of it
T = TypeVar("T")


async def eventually(
    what: str, probe: Callable[[], Awaitable[T | None]], limit: float = PATIENCE, logs: Callable[[], str] | None = None
) -> T:
    """Poll `probe` until it returns something other than None; fail naming `what` (and the logs) after `limit` s."""
    deadline = time.monotonic() + limit
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            msg = f"{what}: not within {limit:.0f}s" + (f"\n{logs()}" if logs else "")
            raise AssertionError(msg)
        await asyncio.sleep(0.3)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class WebDeployment:
    """A worker (and optionally a bridge) started as `python -m ...` with this test's names and ports."""

    stack: Endpoints
    unique: str
    aws: Provisioned
    database_url: str
    env: dict[str, str]
    logs: Path
    web_port: int
    bridge_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def bridge_url(self) -> str:
        return f"http://127.0.0.1:{self.bridge_port}"

    def start(self, name: str) -> None:
        args = {"worker": ["-m", "streamproc", "worker", "--loglevel=info"], "bridge": ["-m", "bridge"]}[name]
        spawn(
            [sys.executable, *args],
            pid_file=self.logs / f"{name}.pid",
            log_file=self.logs / f"{name}.log",
            env=self.env,
        )

    def stop(self, name: str) -> None:
        stop(self.logs / f"{name}.pid", timeout=30)

    def log_tail(self, chars: int = 4000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs.glob("*.log"))

    async def get(self, path: str, base: str | None = None) -> Answer:
        timeout = aiohttp.ClientTimeout(total=20)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get((base or self.url) + path, allow_redirects=False) as response,
        ):
            return Answer(response.status, dict(response.headers), await response.text())

    async def try_get(self, path: str, base: str | None = None) -> Answer | None:
        """None while nothing answers (the process is still starting)."""
        try:
            return await self.get(path, base)
        except (aiohttp.ClientError, OSError):
            return None

    async def wait_web(self) -> None:
        async def up() -> Answer | None:
            answer = await self.try_get("/healthz/")
            return answer if answer is not None and answer.status == 200 else None

        await eventually("the worker's /healthz/ answering 200", up, limit=120, logs=self.log_tail)

    async def upload(self, key: str, body: bytes) -> None:
        session = aioboto3.Session()
        async with session.client("s3", **self.stack.aws.client_kwargs()) as s3:
            await s3.put_object(Bucket=self.aws.bucket, Key=key, Body=body)

    async def finished(self, key: str, limit: float = PATIENCE) -> dict[str, Any]:
        """The file's row from /api/files/?key= once the ledger says it finished."""

        async def done() -> dict[str, Any] | None:
            answer = await self.try_get(f"/api/files/?bucket={quote(self.aws.bucket)}&key={quote(key, safe='')}")
            files = answer.json()["files"] if answer is not None and answer.status == 200 else []
            return files[0] if files and files[0]["status"] in FINAL else None

        return await eventually(f"{key} finished", done, limit, logs=self.log_tail)

    async def ledger_totals(self) -> dict[str, dict[str, int]]:
        """Straight from PostgreSQL: rows per dataset (valid, loaded, rejected, sink_rejected), files per status,
        and the bytes of every object (key "")."""
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(
                "SELECT dataset, status, rows_valid, rows_loaded, rows_rejected, rows_sink_rejected, size "
                "FROM ingest_files"
            )
            rows = await cur.fetchall()
        datasets = ("pharmacy_claims", "audit_records")
        out: dict[str, dict[str, int]] = {name: dict.fromkeys(datasets, 0) for name in COUNTS}
        out["files"] = dict.fromkeys(("RECEIVED", "PROCESSING", *FINAL), 0)
        out["bytes"] = {"": 0}
        for dataset, status, *counts, size in rows:
            out["files"][status] += 1
            out["bytes"][""] += size or 0
            for name, n in zip(COUNTS, counts, strict=True):
                if dataset is not None:
                    out[name][dataset] += n
        return out


@asynccontextmanager
async def web_deployment(
    stack: Endpoints, unique: str, logs: Path, *, server_url: str | None = None, **extra_env: str
) -> AsyncIterator[WebDeployment]:
    """Unique bucket, queues, topics, groups, schema and ports; every process it started is stopped afterwards."""
    names = replace(AwsNames(), bucket=f"web-{unique}", queue=f"q-{unique}", dlq=f"dlq-{unique}")
    made = await asyncio.to_thread(provision, stack.aws, names)
    server_url = server_url or stack.database_url  # another PostgreSQL server, e.g. one a test stops
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(f"web_{unique}")))
    database_url = f"{server_url}?options=-csearch_path%3Dweb_{unique}"
    web_port, bridge_port = free_port(), free_port()
    env = {
        **os.environ, **stack.env(),
        "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
        "STREAMPROC_BUCKET": made.bucket, "STREAMPROC_QUEUE_URL": made.queue_url, "STREAMPROC_DLQ_URL": made.dlq_url,
        "STREAMPROC_TOPIC_NAMESPACE": f"{unique}.", "STREAMPROC_TOPIC_PARTITIONS": "3",
        "STREAMPROC_APP_ID": f"web-{unique}", "STREAMPROC_DATA_DIR": str(logs / "faust"),
        "STREAMPROC_WEB_PORT": str(web_port), "STREAMPROC_WEB_POLL_SECONDS": "1",
        "STREAMPROC_BRIDGE_HEALTH_URL": f"http://127.0.0.1:{bridge_port}/healthz",
        "STREAMPROC_RETRY_BACKOFF_CAP": "1",
        "BRIDGE_HTTP_PORT": str(bridge_port), "BRIDGE_WAIT_SECONDS": "1", "BRIDGE_DLQ_GROUP": f"dlq-mirror-{unique}",
        **extra_env,
    }  # fmt: skip
    d = WebDeployment(stack, unique, made, database_url, env, logs, web_port, bridge_port)
    try:
        yield d
    finally:
        d.stop("worker")
        d.stop("bridge")

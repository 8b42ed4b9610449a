"""Real `python -m bridge` and `python -m streamproc worker` processes on the local stack, isolated by names."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from devstack.process import Owned, free_port, read_owned, spawn, stop
from devstack.provision import Provisioned, provision
from devstack.settings import AwsNames
from devstack.stack import Endpoints
from streamproc.ingest.ledger import FINAL
from streamproc.shared.partitioning import partition_for

# What coverage's subprocess patch (pyproject: patch = subprocess) passes a child to measure it.
UNTRACED = frozenset({"COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START"})


def inherited(environ: Mapping[str, str], *, traced: bool) -> dict[str, str]:
    """The environment a deployment's processes inherit: all of `environ`, less coverage's unless `traced`."""
    return {k: v for k, v in environ.items() if traced or k not in UNTRACED}


@dataclass
class Deployment:
    stack: Endpoints
    aws: Provisioned
    database_url: str
    env: dict[str, str]
    logs: Path
    started: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)

    def start(self, name: str, *args: str, **env: str) -> Owned:
        """Start `python *args` as `name` (its log and pid file in the deployment's folder); `env` overrides."""
        self.started.append(name)
        return spawn(
            [sys.executable, *args],
            pid_file=self.logs / f"{name}.pid",
            log_file=self.logs / f"{name}.log",
            env=self.env | env,
        )

    def start_worker(self, name: str = "worker", **env: str) -> Owned:
        """A worker with its own web port, Faust data dir and group instance id, all kept when it is started
        again under the same name (a restarted worker is the same static group member)."""
        port = self.ports.setdefault(name, free_port())
        return self.start(
            name,
            *("-m", "streamproc", "worker", "--loglevel=info"),
            STREAMPROC_WEB_PORT=str(port),
            STREAMPROC_DATA_DIR=str(self.logs / f"{name}-data"),
            STREAMPROC_INSTANCE_ID=name,
            **env,
        )

    def untraced(self) -> Deployment:
        """This deployment, for processes to start without the coverage tracer (same names, logs, ports and list
        of processes to stop)."""
        return replace(self, env=inherited(self.env, traced=False))

    def dead(self, name: str) -> bool:
        """True once the process started as `name` has exited (or been killed), reaped or not."""
        pid = self.pid(name)
        if pid is None:
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state in {"Z", "X"}

    def stop(self, name: str) -> None:
        stop(self.logs / f"{name}.pid", timeout=30)

    def pid(self, name: str) -> int | None:
        owned = read_owned(self.logs / f"{name}.pid")
        return None if owned is None else owned.pid

    def kill(self, name: str) -> None:
        owned = read_owned(self.logs / f"{name}.pid")
        if owned is None:
            msg = f"{name} is not running"
            raise RuntimeError(msg)
        os.kill(owned.pid, signal.SIGKILL)
        stop(self.logs / f"{name}.pid", timeout=10)  # reaps it

    def objects_partition(self, key: str) -> int:
        """The `ingest.objects` partition the bridge sends `key`'s notification to (Kafka's default partitioner)."""
        return partition_for(f"{self.aws.bucket}/{key}".encode(), int(self.env["STREAMPROC_TOPIC_PARTITIONS"]))

    async def objects_assignment(self, name: str) -> set[int] | None:
        """The `ingest.objects` partitions worker `name` holds now (Faust's /assignment/); None while unreachable."""
        topic = self.env["STREAMPROC_TOPIC_NAMESPACE"] + "ingest.objects"
        url = f"http://127.0.0.1:{self.ports[name]}/assignment/"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.get(url) as response,
            ):
                body = await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            return None
        return set(body.get("actives", {}).get(topic, []))

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

    async def wait_finished(
        self, keys: list[str], limit: float = 120.0, statuses: Collection[str] = FINAL
    ) -> list[dict[str, Any]]:
        """The ledger rows of `keys` once each is in one of `statuses` (by default: finished)."""
        deadline = time.monotonic() + limit
        while True:
            rows = await self.ledger(keys)
            if len(rows) == len(keys) and all(r["status"] in statuses for r in rows):
                return rows
            if time.monotonic() > deadline:
                logs = {p.name: p.read_text(errors="replace")[-3000:] for p in self.logs.glob("*.log")}
                msg = f"not finished in {limit}s: {[(r['key'], r['status']) for r in rows]}\n{logs}"
                raise AssertionError(msg)
            await asyncio.sleep(0.5)

    async def query(self, query: str, *params: Any) -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(self.database_url, row_factory=dict_row) as conn:
            cur = await conn.execute(query.encode(), params)
            return await cur.fetchall()

    def log_text(self) -> str:
        """Everything the bridge and the worker of this deployment wrote to their logs."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    async def count(self, table: str) -> int:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            row = await cur.fetchone()
        return int(row[0]) if row else -1


@asynccontextmanager
async def deployment(
    stack: Endpoints,
    unique: str,
    tmp_path: Path,
    *,
    visibility_timeout: int = 30,
    traced: bool = True,
    **extra_env: str,
) -> AsyncIterator[Deployment]:
    """Unique bucket, queues, topics, consumer groups and schema; bridge and worker stopped afterwards.

    `traced=False`: the processes run without the coverage tracer of a `coverage run` around the tests (~3x the
    CPU per row), for the runs that are load, not coverage: the benchmark, the fault run."""
    names = replace(
        AwsNames(),
        bucket=f"e2e-{unique}",
        queue=f"q-{unique}",
        dlq=f"dlq-{unique}",
        visibility_timeout=visibility_timeout,
    )
    made = provision(stack.aws, names)
    schema = f"e2e_{unique}"
    async with await psycopg.AsyncConnection.connect(stack.database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    database_url = f"{stack.database_url}?options=-csearch_path%3D{schema}"
    env = {
        **inherited(os.environ, traced=traced),
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
        # The seed datasets' controls evaluate a whole file before publishing any of it (a large file is read and
        # spooled first): off unless a test is about them and says STREAMPROC_CONTROLS="true".
        "STREAMPROC_CONTROLS": "false",
        **extra_env,
    }
    d = Deployment(stack, made, database_url, env, tmp_path)
    try:
        yield d
    finally:
        for name in d.started:  # every process this deployment started
            d.stop(name)

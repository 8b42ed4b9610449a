"""What the run puts in and watches: the uploads (with backpressure), the ledger as it moves, and the SQS DLQ
drained as the run goes (moto's SQS costs O(queue depth) per message sent, so the DLQ is kept near empty)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aioboto3
import psycopg
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from psycopg.rows import dict_row

from devstack.chaos.generator import PlannedFile
from devstack.deployment import Deployment

logger = logging.getLogger(__name__)
FINAL = frozenset({"COMPLETED", "PARTIAL", "FAILED", "SUPERSEDED", "DECLINED"})
MAX_IN_FLIGHT = 6  # uploads wait while more files than this are unfinished: faults, not a backlog, slow files
AWS_ERRORS = (BotoCoreError, ClientError, OSError, TimeoutError)
_CLIENT = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1})


@dataclass
class Upload:
    """One version of a planned file as uploaded: its ETag (the ledger's version) and when."""

    file: PlannedFile
    version_index: int
    etag: str
    at: float  # wall-clock seconds
    key: str = ""  # where it was put: the file's key, or its copy key

    def __post_init__(self) -> None:
        self.key = self.key or self.file.key


@dataclass
class Seen:
    status: str
    rows_loaded: int
    final_at: float | None = None


@dataclass
class Traffic:
    d: Deployment
    uploads: list[Upload] = field(default_factory=list)
    seen: dict[tuple[str, str], Seen] = field(default_factory=dict)  # (key, version) -> last ledger view
    dlq: list[dict[str, Any]] = field(default_factory=list)  # every SQS DLQ message body, parsed
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    decided: dict[tuple[str, str], str] = field(default_factory=dict)  # (key, version) whose decision went through

    def versions(self) -> set[tuple[str, str]]:
        return {(u.key, u.etag) for u in self.uploads}

    def unfinished(self) -> dict[tuple[str, str], int]:
        """Every uploaded version not final yet, with its rows loaded so far."""
        out = {}
        for version in self.versions():
            seen = self.seen.get(version)
            if seen is None or seen.status not in FINAL:
                out[version] = seen.rows_loaded if seen else -1
        return out

    async def generate(self, files: Iterator[PlannedFile], until: float) -> None:
        """Upload planned files one after another until `until` (monotonic), each file's later uploads after its
        delay, waiting while too many files are unfinished."""
        session = aioboto3.Session()
        while time.monotonic() < until and not self.stopping.is_set():
            if len(self.unfinished()) >= MAX_IN_FLIGHT:
                await asyncio.sleep(0.2)
                continue
            await self.upload(session, next(files))

    async def upload(self, session: aioboto3.Session, planned: PlannedFile) -> None:
        """Every upload of one planned file, the later ones after its delay."""
        for n, which in enumerate(planned.uploads):
            if n:
                await asyncio.sleep(planned.delay)
            # A copy: once the first is final (so that it is the one loaded), if it is.
            if n and planned.copy_key and not await self._final(self.uploads[-1], limit=60.0):
                return
            await self._put(session, planned, which, planned.copy_key if n and planned.copy_key else planned.key)

    async def _final(self, upload: Upload, limit: float) -> bool:
        for _ in range(int(limit / 0.3)):
            seen = self.seen.get((upload.key, upload.etag))
            if seen is not None and seen.status in FINAL:
                return True
            await asyncio.sleep(0.3)
        return False

    async def _put(self, session: aioboto3.Session, planned: PlannedFile, which: int, key: str) -> None:
        body = planned.versions[which].body
        while True:  # moto may be frozen: try again until it takes the object
            try:
                async with session.client("s3", config=_CLIENT, **self.d.stack.aws.client_kwargs()) as s3:
                    made = await s3.put_object(Bucket=self.d.aws.bucket, Key=key, Body=body)
            except AWS_ERRORS as exc:  # moto frozen or busy: retried
                logger.info("upload of %s failed (%s); again", key, type(exc).__name__)
                await asyncio.sleep(1.0)
            else:
                self.uploads.append(Upload(planned, which, str(made["ETag"]).strip('"'), time.time(), key))
                return

    async def watch(self) -> None:
        """Poll the ledger (PostgreSQL may be down or frozen: then the view is just older)."""
        while not self.stopping.is_set():
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                async with asyncio.timeout(5):
                    await self.poll()
            await asyncio.sleep(0.25)

    async def poll(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.d.database_url, row_factory=dict_row, connect_timeout=3
        ) as conn:
            try:
                cur = await conn.execute("SELECT key, version, status, rows_loaded FROM ingest_files")
            except psycopg.errors.UndefinedTable:
                return
            rows = await cur.fetchall()
        now = time.time()
        for row in rows:
            version = (str(row["key"]), str(row["version"]))
            old = self.seen.get(version)
            final_at = old.final_at if old else None
            if final_at is None and row["status"] in FINAL:
                final_at = now
            self.seen[version] = Seen(str(row["status"]), int(row["rows_loaded"]), final_at)

    async def decide(self) -> None:
        """Release or decline each HELD file as its plan says, as an operator would: `python -m streamproc release`
        or `decline` (one command per file at a time, files in parallel), tried again while a service is away (the
        command then leaves the file HELD); a release left RELEASING for 60 s (its command died before Kafka took
        its event) is re-emitted with `reprocess`."""
        running: dict[tuple[str, str], asyncio.Task[bool]] = {}
        releasing: dict[tuple[str, str], float] = {}  # when a version was first seen RELEASING
        try:
            while not self.stopping.is_set():
                for version in [v for v, t in running.items() if t.done()]:
                    if running.pop(version).result():
                        self.decided[version] = "done"
                for u in list(self.uploads):
                    version, url = (u.key, u.etag), f"s3://{self.d.aws.bucket}/{u.key}"
                    seen, decision = self.seen.get(version), u.file.versions[u.version_index].decision
                    if decision is None or seen is None or version in running:
                        continue
                    args: tuple[str, ...] = ()
                    if seen.status == "HELD":
                        args = (decision, url, "--version", u.etag, "--reason", "chaos run")
                    elif (
                        seen.status == "RELEASING"
                        and time.monotonic() - releasing.setdefault(version, time.monotonic()) > 60
                    ):
                        args = ("reprocess", url, "--version", u.etag)
                        releasing.pop(version)
                    if args:
                        running[version] = asyncio.create_task(_command(self.d, *args))
                await asyncio.sleep(0.5)
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    async def drain_dlq(self) -> None:
        """Receive and delete every SQS DLQ message until stopped; bodies kept for the checker."""
        session = aioboto3.Session()
        while not self.stopping.is_set():
            try:
                await self.drain_once(session, wait=1)
            except AWS_ERRORS as exc:  # moto frozen: the messages wait for the next round
                logger.info("DLQ drain: %s", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def drain_once(self, session: aioboto3.Session, wait: int = 0) -> int:
        got = 0
        async with session.client("sqs", config=_CLIENT, **self.d.stack.aws.client_kwargs()) as sqs:
            while True:
                answer = await sqs.receive_message(
                    QueueUrl=self.d.aws.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
                )
                messages = answer.get("Messages", [])
                if not messages:
                    return got
                for m in messages:
                    self.dlq.append(_parse(m.get("Body", "")))
                await sqs.delete_message_batch(
                    QueueUrl=self.d.aws.dlq_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
                )
                got += len(messages)


async def _command(d: Deployment, *args: str) -> bool:
    """`python -m streamproc ARGS` with the deployment's settings; True if it exited 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamproc", *args, env=d.env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            _, err = await proc.communicate()
    except TimeoutError:
        logger.info("%s timed out; again", args[0])
        return False
    finally:
        if proc.returncode is None:  # timed out, or the run stops: the command ends with it
            proc.kill()
            await proc.wait()
    if proc.returncode:
        logger.info("%s exited %s: %s; again", args[0], proc.returncode, err.decode(errors="replace")[-300:])
    return proc.returncode == 0


def _parse(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {"unparsed": body[:200]}
    return value if isinstance(value, dict) else {"unparsed": body[:200]}


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")

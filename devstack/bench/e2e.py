"""End-to-end figures with the real bridge and worker processes: throughput, latency, memory, scale-out."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aioboto3
import psycopg

from devstack.bench.cpu import CpuWindow, stack_pids
from devstack.bench.data import LATENCY_PREFIX, BenchFile, Expected, checksum_query, mismatches, upload
from devstack.bench.dlq import wait_for_messages
from devstack.bench.profile import Spy
from devstack.deployment import Deployment, deployment
from devstack.settings import StackSettings
from devstack.stack import Endpoints
from streamproc.datasets import samples

WARMUP_KEY = "misc/warmup.csv"  # a file no dataset claims: it proves bridge and worker run, and loads no row


@dataclass
class E2ERun:
    """One run through the real processes: rows/s from the first upload to every file finished."""

    rows_per_second: float
    seconds: float
    workers: int
    problems: list[str]
    peak_rss_mb: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    profile_problem: str | None = None  # why no profile was written, when one was asked for
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per process, during the measured window
    dead_letters: int = 0  # messages in the SQS DLQ after the run (the bridge's mirror of the dead letters)


async def e2e_run(
    endpoints: Endpoints,
    files: list[BenchFile],
    want: dict[str, Expected] | None,
    workdir: Path,
    *,
    workers: int = 1,
    latency_uploads: int = 0,
    profile: Path | None = None,
    dlq_wait: float = 0.0,
    env: dict[str, str] | None = None,
) -> E2ERun:
    """Start bridge + workers, warm up, upload every file, wait for the ledger, verify the tables.

    With `dlq_wait`, wait up to that many seconds for the SQS DLQ to hold a message per rejected row (a
    shortfall is a problem); without, count what the bridge's mirror had delivered when the files finished.
    `env`: more settings of the processes (e.g. STREAMPROC_CONTROLS=false).
    """
    unique = uuid.uuid4().hex[:10]
    folder = workdir / f"e2e-{unique}"
    folder.mkdir(parents=True)
    settings = {
        "STREAMPROC_TOPIC_PARTITIONS": "6", "BRIDGE_STATS_INTERVAL": "0", "STREAMPROC_CONTROLS": "true", **(env or {}),
    }  # fmt: skip
    # Untraced: under `make test`'s coverage run the figures would be the tracer's.
    async with deployment(endpoints, unique, folder, visibility_timeout=30, traced=False, **settings) as d:
        d.start("bridge", "-m", "bridge")
        names = [f"worker{n}" for n in range(workers)]
        for name in names:
            d.start_worker(name)
        await d.upload(WARMUP_KEY, b"nothing,claims\nthis,file\n")
        await d.wait_finished([WARMUP_KEY], limit=180)
        # On the idle pipeline, before the bulk: a burst's aftermath (autovacuum, checkpoints) is not latency.
        latencies = [await _latency(d, n) for n in range(latency_uploads)]
        worker = d.pid(names[0])
        spy = Spy(worker, profile) if profile and worker is not None else None
        cpu = CpuWindow(stack_pids(StackSettings.from_env()) | _pids(d, ["bridge", *names]))
        cpu.start()
        t0 = time.perf_counter()
        await upload(endpoints.aws.client_kwargs(), d.aws.bucket, files)
        await d.wait_finished([f.key for f in files], limit=1800)
        seconds = time.perf_counter() - t0
        used = cpu.stop()
        why = spy.stop() if spy is not None else None
        problems = await _verify(d, want) if want else []
        rejected = sum(f.rows for f in files) - sum(w.rows for w in want.values()) if want else 0
        mirrored = await wait_for_messages(endpoints.aws.client_kwargs(), d.aws.dlq_url, rejected, limit=dlq_wait)
        if dlq_wait and mirrored < rejected:
            problems.append(f"the SQS DLQ holds {mirrored} messages for the bulk's {rejected} rejected rows")
        rss = [peak_rss_mb(d.pid(name)) for name in names]
    return E2ERun(
        rows_per_second=sum(f.rows for f in files) / seconds,
        seconds=seconds,
        workers=workers,
        problems=problems,
        peak_rss_mb=rss,
        latencies=latencies,
        profile_problem=why,
        cpu_seconds=used,
        dead_letters=mirrored,
    )


def _pids(d: Deployment, names: list[str]) -> dict[str, int]:
    return {name: pid for name in names if (pid := d.pid(name)) is not None}


def worker_cpu_us(run: E2ERun, rows: int) -> float:
    """CPU microseconds the worker processes used per row uploaded (user + system, all their threads)."""
    used = sum(s for name, s in run.cpu_seconds.items() if name.startswith("worker"))
    return used * 1e6 / rows if rows else 0.0


def cpu_note(run: E2ERun, rows: int, cores: int) -> str:
    """Where the cores went during an end-to-end run, per million rows, and what that allows at best."""
    per_million = {name: s * 1e6 / rows for name, s in sorted(run.cpu_seconds.items(), key=lambda x: -x[1])}
    total = sum(per_million.values())
    parts = ", ".join(f"{name} {s:.1f}" for name, s in per_million.items())
    best = rows / (sum(run.cpu_seconds.values()) / cores) if total else 0.0
    return (
        f"CPU seconds per million rows, end to end with {run.workers} worker(s): {parts}; {total:.1f} in all, "
        f"so {cores} fully busy cores would allow at most {best:,.0f} rows/s (measured {run.rows_per_second:,.0f})"
    )


async def _verify(d: Deployment, want: dict[str, Expected]) -> list[str]:
    found = {}
    async with await psycopg.AsyncConnection.connect(d.database_url) as conn:
        for dataset, expect in want.items():
            row = await (await conn.execute(checksum_query(expect))).fetchone()
            found[dataset] = {"n": row[0], "sum": row[1]} if row else {"n": 0, "sum": ""}
    return mismatches(found, want)


async def _latency(d: Deployment, n: int) -> float:
    """Seconds from the start of one 10-row upload until its rows are in the table (the ledger says COMPLETED)."""
    key = f"{LATENCY_PREFIX}{n:03d}.csv"
    body = samples.csv_bytes("pharmacy_claims", 10, 0.0, seed=500 + n, prefix=f"L{n:03d}")
    session = aioboto3.Session()
    async with (
        session.client("s3", **d.stack.aws.client_kwargs()) as s3,
        await psycopg.AsyncConnection.connect(d.database_url, autocommit=True) as conn,
    ):
        t0 = time.perf_counter()
        await s3.put_object(Bucket=d.aws.bucket, Key=key, Body=body)
        while True:
            row = await (await conn.execute("SELECT status FROM ingest_files WHERE key = %s", (key,))).fetchone()
            if row and row[0] == "COMPLETED":
                return time.perf_counter() - t0
            await asyncio.sleep(0.005)


def peak_rss_mb(pid: int | None) -> float:
    """The process's peak resident memory (VmHWM) in MiB; 0 if it is gone."""
    if pid is None:
        return 0.0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values fall (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0

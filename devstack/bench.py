"""Benchmark on the local stack: fan-out rows/s, one sink's rows/s, end to end, and the per-row INSERT baseline."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from collections.abc import Sequence

import psycopg
from psycopg import sql

from devstack import stack
from devstack.harness import Harness, running_pipeline
from devstack.settings import StackSettings
from streamproc import samples


async def _fanout_only(endpoints: stack.Endpoints, body: bytes, rows: int) -> tuple[float, str]:
    """Stream the file from S3, validate, produce every row (acks=all); no sink runs."""
    unique = uuid.uuid4().hex[:10]
    async with running_pipeline(endpoints, unique, run_sinks=False) as h:
        event = await h.upload("pharmacy_claims/bench.csv", body)
        t0 = time.perf_counter()
        await h.ingest(event)
        elapsed = time.perf_counter() - t0
        report = f"fan-out      {rows:>9,} rows in {elapsed:6.2f}s = {rows / elapsed:>9,.0f} rows/s"
        sink_report = await _sink_only(h, rows)
    return elapsed, report + "\n" + sink_report


async def _sink_only(h: Harness, rows: int) -> str:
    """One sink consumer drains the topic the fan-out filled, from the earliest offset."""
    dataset = h.registry.by_name("pharmacy_claims")
    sink = h.pipeline.new_sink(dataset, group_id=f"bench-{h.unique}")
    stopping = asyncio.Event()
    t0 = time.perf_counter()
    task = asyncio.create_task(sink.run(stopping))
    while True:  # polled: the sink keeps counters, not events
        if sink.stats.rows_written + sink.stats.rows_rejected >= rows or task.done():
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t0
    stopping.set()
    await task
    return (
        f"one sink     {rows:>9,} rows in {elapsed:6.2f}s = {rows / elapsed:>9,.0f} rows/s "
        f"({sink.stats.batches} batches of up to {h.settings.sink_batch_size}; fetch {sink.stats.fetch_seconds:.1f}s, "
        f"decode {sink.stats.decode_seconds:.1f}s, waiting for writes {sink.stats.write_wait_seconds:.1f}s)"
    )


async def _end_to_end(endpoints: stack.Endpoints, body: bytes, rows: int) -> str:
    unique = uuid.uuid4().hex[:10]
    async with running_pipeline(endpoints, unique) as h:
        event = await h.upload("pharmacy_claims/bench.csv", body)
        t0 = time.perf_counter()
        await h.ingest(event)
        await h.wait_finished([event.key], limit=600)
        elapsed = time.perf_counter() - t0
    return f"end to end   {rows:>9,} rows in {elapsed:6.2f}s = {rows / elapsed:>9,.0f} rows/s (file COMPLETED)"


def _per_row_baseline(database_url: str, rows: int) -> str:
    """What a seed-style loader does: one INSERT and one commit per row."""
    table = sql.Identifier(f"bench_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(database_url) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (claim_id text PRIMARY KEY, member_id text, line int)").format(table))
        conn.commit()
        insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(table)
        t0 = time.perf_counter()
        for n in range(rows):
            conn.execute(insert, (f"C{n}", f"M{n}", n))
            conn.commit()
        elapsed = time.perf_counter() - t0
        conn.execute(sql.SQL("DROP TABLE {}").format(table))
        conn.commit()
    return f"per-row ins. {rows:>9,} rows in {elapsed:6.2f}s = {rows / elapsed:>9,.0f} rows/s (INSERT+commit each)"


async def _run(rows: int, baseline_rows: int) -> None:
    endpoints = stack.up(StackSettings.from_env()).endpoints
    body = samples.csv_bytes("pharmacy_claims", rows, 0.0, seed=11, prefix="B")
    print(f"file: {rows:,} claim rows, {len(body) / 1e6:.1f} MB; batch settings from STREAMPROC_SINK_* or defaults")
    _, stages = await _fanout_only(endpoints, body, rows)
    print(stages)
    print(await _end_to_end(endpoints, body, rows))
    print(await asyncio.to_thread(_per_row_baseline, endpoints.database_url, baseline_rows))
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    args = parser.parse_args(argv)
    asyncio.run(_run(args.rows, args.baseline_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

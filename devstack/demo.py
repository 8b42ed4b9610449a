"""The main job on the local stack: stack up, bridge + worker started, sample files uploaded, ledger shown."""

from __future__ import annotations

import gzip
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg
from psycopg.rows import dict_row

from bridge.settings import load as load_bridge_settings
from devstack import stack
from devstack.process import read_owned, spawn, stop, wait_for
from devstack.settings import StackSettings
from streamproc.datasets import samples
from streamproc.ingest.ledger import FINAL, HELD
from streamproc.worker.settings import WorkerSettings

APPS = {"bridge": ["-m", "bridge"], "worker": ["-m", "streamproc", "worker", "--loglevel=info"]}


@dataclass(frozen=True)
class SampleFile:
    key: str
    body: bytes
    expected: str  # the ledger status this file must reach


def sample_files(run: str, rows: int, bad_share: float) -> list[SampleFile]:
    claims = samples.csv_bytes("pharmacy_claims", rows, bad_share, seed=1, prefix=f"C{run}")
    audits = gzip.compress(samples.csv_bytes("audit_records", rows // 2, 0.0, seed=2, prefix=f"A{run}"))
    root = samples.csv_bytes("pharmacy_claims", 50, 0.0, seed=3, prefix=f"R{run}")
    mostly_bad = samples.csv_bytes("pharmacy_claims", 200, 0.7, seed=4, prefix=f"H{run}")
    return [
        SampleFile(f"pharmacy_claims/claims_{run}.csv", claims, "PARTIAL" if bad_share else "COMPLETED"),
        SampleFile(f"audit_records/audit_{run}.csv.gz", audits, "COMPLETED"),
        SampleFile(f"pharmacy_claim_{run}.csv", root, "COMPLETED"),  # the seed's case: bucket root
        SampleFile(f"misc/unknown_{run}.csv", b"colour,size\nred,9\n", "FAILED"),
        # Over the seed's error budget (more than half of its rows rejected): it waits for an operator.
        SampleFile(f"pharmacy_claims/mostly_bad_{run}.csv", mostly_bad, HELD),
    ]


def start_apps(settings: StackSettings, env: dict[str, str]) -> None:
    """Start the bridge and the worker unless they already run; they log to .stack/logs/."""
    for name, args in APPS.items():
        pid_file = settings.state_dir / f"{name}.pid"
        if read_owned(pid_file) is None:
            spawn([sys.executable, *args], pid_file=pid_file, log_file=settings.log_dir / f"{name}.log", env=env)
            print(f"started {name} (log: {settings.log_dir / f'{name}.log'})")


def stop_apps(settings: StackSettings) -> None:
    for name in APPS:
        if stop(settings.state_dir / f"{name}.pid", timeout=30):
            print(f"stopped {name}")


def ledger(database_url: str, keys: list[str]) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass('ingest_files') IS NOT NULL AS ok").fetchone()
        if not exists or not exists["ok"]:
            return []  # the worker has not applied its migrations yet
        return conn.execute(
            "SELECT key, status, rows_read, rows_loaded, rows_dead_lettered, error_summary FROM ingest_files "
            "WHERE key = ANY(%s) ORDER BY key",
            (keys,),
        ).fetchall()


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max([44, *(len(r["key"]) for r in rows)])
    print(f"{'file':<{width}} {'status':<10} {'read':>7} {'loaded':>7} {'dead':>6}  note")
    for r in rows:
        note = (r["error_summary"] or "")[:60]
        counts = f"{r['rows_read']:>7} {r['rows_loaded']:>7} {r['rows_dead_lettered']:>6}"
        print(f"{r['key']:<{width}} {r['status']:<10} {counts}  {note}")


def check(files: list[SampleFile], rows: list[dict[str, Any]]) -> list[str]:
    """Problems: a file not at its expected status, or counts that do not reconcile."""
    by_key = {r["key"]: r for r in rows}
    problems = []
    for f in files:
        r = by_key.get(f.key)
        if r is None or r["status"] != f.expected:
            problems.append(f"{f.key}: expected {f.expected}, got {r['status'] if r else 'nothing'}")
        elif r["status"] != HELD and r["rows_read"] != r["rows_loaded"] + r["rows_dead_lettered"]:
            problems.append(
                f"{f.key}: read {r['rows_read']} != loaded {r['rows_loaded']} + dead {r['rows_dead_lettered']}"
            )
    return problems


def app_env(endpoints: stack.Endpoints) -> tuple[dict[str, str], str]:
    """The bridge's and worker's environment, and the dashboard's URL; the worker asks the bridge's own port."""
    env = {**os.environ, **endpoints.env(), "PYTHONUNBUFFERED": "1"}
    bridge = load_bridge_settings(env)
    env.setdefault("STREAMPROC_BRIDGE_HEALTH_URL", f"http://{bridge.http_host}:{bridge.http_port}/healthz")
    worker = WorkerSettings.from_env(env)
    return env, f"http://{worker.web_host}:{worker.web_port}/pipeline/"


def main(once: bool, rows: int, bad_share: float, timeout: float) -> int:
    settings = StackSettings.from_env()
    endpoints = stack.up(settings).endpoints
    env, dashboard = app_env(endpoints)
    start_apps(settings, env)
    print(f"dashboard: {dashboard} (JSON under /api/, /healthz/, /metrics)")
    run = time.strftime("%Y%m%dT%H%M%S")
    files = sample_files(run, rows, bad_share)
    s3 = boto3.client("s3", **endpoints.aws.client_kwargs())
    for f in files:
        s3.put_object(Bucket=endpoints.provisioned.bucket, Key=f.key, Body=f.body)
        print(f"uploaded s3://{endpoints.provisioned.bucket}/{f.key} ({len(f.body):,} bytes)")
    keys = [f.key for f in files]
    t0 = time.monotonic()
    last: list[dict[str, Any]] = []

    def finished() -> bool:
        nonlocal last
        last = ledger(endpoints.database_url, keys)
        return len(last) == len(keys) and all(r["status"] in (*FINAL, HELD) for r in last)

    done = wait_for(finished, timeout, interval=1.0)
    print(f"\n{'all files finished or held' if done else 'timed out'} after {time.monotonic() - t0:.1f}s\n")
    print_table(last)
    problems = check(files, last)
    for p in problems:
        print(f"PROBLEM: {p}")
    for r in last:
        if r["status"] == HELD:
            url = f"s3://{endpoints.provisioned.bucket}/{r['key']}"
            print(f"\n{r['key']} is HELD and waits for a decision (nothing of it is loaded). With `source .stack/env`:")
            print(f"  python -m streamproc status {url}")
            print(f'  python -m streamproc release {url} --reason "checked with the sender"')
            print(f'  python -m streamproc decline {url} --reason "sender will resend"')
    if once:
        stop_apps(settings)
        return 0 if done and not problems else 1
    print(f"\nbridge and worker keep running; watch them at {dashboard} ; Ctrl-C stops them")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop_apps(settings)
    return 0

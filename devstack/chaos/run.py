"""`python -m devstack chaos --minutes M --seed S`: the real bridge and two workers on a private three-broker
cluster, PostgreSQL and moto (own state dir and ports), files from the generator, faults from the schedule, then
the checker; writes the JSON report and exits 0 only with no violation (docs/chaos.md)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import aioboto3

from devstack.chaos import report
from devstack.chaos.checker import check
from devstack.chaos.generator import plan
from devstack.chaos.nemesis import Injected, Nemesis
from devstack.chaos.observe import observe
from devstack.chaos.schedule import faults
from devstack.chaos.services import WORKERS, Services, processes
from devstack.chaos.traffic import AWS_ERRORS, Traffic, utc
from devstack.deployment import Deployment, deployment
from devstack.kafka import min_insync_replicas
from devstack.process import StackError, read_owned
from devstack.settings import REPO_ROOT
from streamproc.datasets.registry import load_registry
from streamproc.shared.settings import TopicSettings

logger = logging.getLogger(__name__)
PRODUCE_WINDOW = 1000  # records a split has in flight; the fencing bound allows one window per fault
VISIBILITY_TIMEOUT = 8  # seconds before a notification a killed bridge held is received again
SETTLE_LIMIT = 300.0  # seconds for every file to finish once the faults stop
WARM_UP_LIMIT = 180.0


def main(minutes: float, seed: int, report_path: str | None, state_dir: str | None) -> int:
    state = Path(state_dir) if state_dir else REPO_ROOT / "test-output" / "chaos-state"
    out = Path(report_path) if report_path else REPO_ROOT / "test-output" / f"chaos-seed{seed}.json"
    made = asyncio.run(run(minutes, seed, state, out))
    print(report.summary(made))
    for v in made["violations"][:30]:
        print(f"  violation: {v}")
    print(f"report: {out}")
    return 0 if made["ok"] else 1


async def run(minutes: float, seed: int, state: Path, out: Path) -> dict[str, Any]:
    _fresh(state)
    services = Services.create(state)
    started = time.time()
    try:
        endpoints = await asyncio.to_thread(services.start)
        code, commit = await asyncio.to_thread(snapshot, state / "code")
        env = {
            "STREAMPROC_PRODUCE_WINDOW": str(PRODUCE_WINDOW),
            "STREAMPROC_CONTROLS": "true",  # the seed datasets' controls, as deployed: held and copied files
            "BRIDGE_WAIT_SECONDS": "1",
            # The bridge and workers run the committed code: others edit the working tree while a run goes on,
            # and a process restarted by the nemesis must not pick up a half-made change.
            "PYTHONPATH": str(code),
            "PYTHONSAFEPATH": "1",  # no current dir first on sys.path: the snapshot wins over the checkout
        }
        # Untraced: the processes run a snapshot of the code (PYTHONPATH above), which coverage of the checkout
        # cannot map back, and the tracer would only slow the run's traffic.
        async with deployment(
            endpoints, f"chaos{seed}", state / "run", visibility_timeout=VISIBILITY_TIMEOUT, traced=False, **env
        ) as d:
            made = await _exercise(d, services, minutes, seed)
    finally:
        await asyncio.to_thread(services.stop)
    made |= {"started": utc(started), "finished": utc(time.time()), "state_dir": str(state), "commit": commit}
    made["settings"] |= {"min_insync_replicas": min_insync_replicas(services.settings.kafka_brokers)}
    report.write(out, made)
    return made


async def _exercise(d: Deployment, services: Services, minutes: float, seed: int) -> dict[str, Any]:
    topics = TopicSettings.from_env(d.env)
    registry = load_registry(()).qualified(topics)
    row_topics = [dataset.topic for dataset in registry]
    d.start("bridge", "-m", "bridge")
    for name in WORKERS:
        d.start_worker(name)
    traffic = Traffic(d)
    procs = processes(services, d)
    nemesis = Nemesis(procs, traffic, d.stack.kafka_bootstrap_servers, registry.by_name("pharmacy_claims").topic)
    watch = asyncio.create_task(traffic.watch())
    drain = asyncio.create_task(traffic.drain_dlq())
    decide = asyncio.create_task(traffic.decide())
    files = plan(seed)
    done: list[Injected] = []
    try:
        await _warm_up(traffic, files)
        until = time.monotonic() + minutes * 60
        generate = asyncio.create_task(traffic.generate(files, until))
        done = await nemesis.run(faults(seed), until)
        await generate
        settled = await _settle(traffic)
        traffic.stopping.set()
        await asyncio.gather(watch, drain, decide, return_exceptions=True)
        await _final_drain(traffic)
        seen = await observe(d, row_topics, topics.deadletter, traffic.dlq)
        result = check(traffic.uploads, seen, done, PRODUCE_WINDOW, time.time())
        if not settled:
            for version, loaded in traffic.unfinished().items():
                result.add(version[0], version[1], None, "file unfinished after the run", "a final status", loaded)
    finally:
        traffic.stopping.set()
        for task in (watch, drain, decide):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await nemesis.heal()
    extra = {
        "settings": {
            "brokers": services.settings.kafka_brokers,
            "replication": d.stack.topic_replication,
            "workers": len(WORKERS),
            "produce_window": PRODUCE_WINDOW,
            "visibility_timeout": VISIBILITY_TIMEOUT,
        },
        "dlq_messages_drained": len(traffic.dlq),
    }
    return report.build(seed=seed, minutes=minutes, faults=done, uploads=traffic.uploads, result=result, extra=extra)


async def _warm_up(traffic: Traffic, files: Any) -> None:
    """One file through the pipeline before the first fault, so that recovery never measures the start."""
    # One planned file, uploaded for certain: generate() with a deadline 1 ms away could upload none, and the
    # nemesis then killed a broker while both workers were still starting.
    await traffic.upload(aioboto3.Session(), next(files))
    deadline = time.monotonic() + WARM_UP_LIMIT
    while not traffic.uploads or traffic.unfinished():
        if time.monotonic() > deadline:
            msg = f"the pipeline did not finish its first file in {WARM_UP_LIMIT:.0f}s; see {traffic.d.logs}"
            raise StackError(msg)
        await asyncio.sleep(0.5)


async def _settle(traffic: Traffic) -> bool:
    deadline = time.monotonic() + SETTLE_LIMIT
    while traffic.unfinished():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)
    return True


async def _final_drain(traffic: Traffic, quiet: float = 10.0, limit: float = 120.0) -> None:
    """Drain the SQS DLQ until it has stayed empty for `quiet` seconds (the mirror is caught up)."""
    session = aioboto3.Session()
    t0 = last = time.monotonic()
    while time.monotonic() - last < quiet and time.monotonic() - t0 < limit:
        got = 0
        with contextlib.suppress(*AWS_ERRORS):
            got = await traffic.drain_once(session, wait=1)
        if got:
            last = time.monotonic()


def snapshot(into: Path, rev: str = "HEAD") -> tuple[Path, str]:
    """streamproc/ and bridge/ as committed at `rev`, extracted into `into`; (that dir, the commit)."""
    git = shutil.which("git") or "git"
    commit = subprocess.run(
        [git, "-C", str(REPO_ROOT), "rev-parse", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(
        [git, "-C", str(REPO_ROOT), "archive", "--format=tar", commit, "streamproc", "bridge"],
        capture_output=True,
        check=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into, commit


def _fresh(state: Path) -> None:
    """Start from an empty state dir; refuse one whose processes still run."""
    running = [p for p in state.rglob("*.pid") if read_owned(p) is not None] if state.exists() else []
    if running:
        msg = f"{state} has running processes ({', '.join(map(str, running))}); stop them or use another --state-dir"
        raise StackError(msg)
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)

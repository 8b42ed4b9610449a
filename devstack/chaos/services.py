"""The chaos run's own services: a three-broker cluster, PostgreSQL and moto in its own state dir on its own ports
(the shared stack is never touched), and the handles the nemesis signals, restarts and waits on, by PID."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from devstack.cluster import Cluster, private_settings
from devstack.deployment import Deployment
from devstack.kafka import Kafka, topic_replication
from devstack.moto import Moto
from devstack.postgres import Postgres
from devstack.process import Owned, StackError, free_port, reap, wait_for
from devstack.provision import AwsEndpoint, provision
from devstack.settings import AwsNames, StackSettings
from devstack.stack import Endpoints

WORKERS = ("worker-1", "worker-2")


@dataclass
class Services:
    settings: StackSettings
    cluster: Cluster
    postgres: Postgres
    moto: Moto

    @classmethod
    def create(cls, state_dir: Path) -> Services:
        settings = replace(
            private_settings(state_dir, brokers=3, heap="384m"), postgres_port=free_port(), moto_port=free_port()
        )
        return cls(settings, Cluster(settings), Postgres(settings), Moto(settings))

    def start(self) -> Endpoints:
        """Every service up and healthy; the AWS side provisioned in the run's own moto."""
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        for svc in (self.postgres, self.moto):
            if svc.owned() is None:
                svc.start()
        self.cluster.start()
        for svc in (self.postgres, self.moto):
            if not wait_for(svc.healthy, self.settings.ready_timeout, 0.5):
                msg = f"{svc.name} not healthy; see {svc.log_file}"
                raise StackError(msg)
        self.postgres.after_ready()
        aws = AwsEndpoint(url=self.moto.endpoint, region=self.settings.region)
        return Endpoints(
            kafka_bootstrap_servers=self.cluster.bootstrap,
            database_url=self.postgres.endpoint,
            aws=aws,
            provisioned=provision(aws, AwsNames()),
            topic_replication=topic_replication(self.settings.kafka_brokers),
        )

    def stop(self) -> None:
        for owned in (self.postgres.owned(), self.moto.owned(), *(b.owned() for b in self.cluster.brokers)):
            if owned is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(owned.pid, signal.SIGCONT)  # a frozen process would not see the SIGTERM
        self.cluster.stop()
        self.postgres.stop()
        self.moto.stop()


@dataclass
class Process:
    """One process the run started, as the nemesis sees it: its PID now, how to restart it, when it is back."""

    role: str
    owned: Callable[[], Owned | None]
    restart: Callable[[], object]
    ready: Callable[[], bool]

    def pid(self) -> int | None:
        owned = self.owned()
        return None if owned is None else owned.pid

    def signal(self, sig: signal.Signals) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        return True

    async def kill(self) -> None:
        pid = self.pid()
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if pid is not None:
            await asyncio.to_thread(wait_for, lambda: self.owned() is None, 10.0, 0.05)
            reap(pid)

    async def bring_back(self, limit: float = 120.0) -> bool:
        """Restart it (retrying while its old resources are still held) and wait until it is ready."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.owned() is None:
                with contextlib.suppress(StackError):
                    await asyncio.to_thread(self.restart)
            back = await asyncio.to_thread(wait_for, lambda: self.ready() or self.owned() is None, 30.0, 0.2)
            if back and self.ready():
                return True
            await asyncio.sleep(0.5)
        return False


def processes(services: Services, d: Deployment) -> dict[str, Process]:
    """Every role the nemesis may hit, by name."""
    procs: dict[str, Process] = {}
    for name in WORKERS:
        procs[name] = _app(d, name, functools.partial(d.start_worker, name))
    procs["bridge"] = _app(d, "bridge", lambda: d.start("bridge", "-m", "bridge"))
    for broker in services.cluster.brokers:
        procs[broker.name] = _broker(broker)
    pg = services.postgres
    procs["postgres"] = Process("postgres", pg.owned, pg.start, pg.healthy)
    procs["moto"] = Process("moto", services.moto.owned, services.moto.start, services.moto.healthy)
    return procs


def _app(d: Deployment, name: str, start: Callable[[], Owned]) -> Process:
    def owned() -> Owned | None:
        pid = d.pid(name)
        return None if pid is None or d.dead(name) else Owned(pid=pid, start_ticks=0)

    return Process(name, owned, start, lambda: not d.dead(name))


def _broker(broker: Kafka) -> Process:
    return Process(broker.name, broker.owned, broker.start, broker.healthy)

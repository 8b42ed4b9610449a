"""A private Kafka cluster of N brokers (own state dir and ports): started together, healthy when every broker
answers and lists all N, stopped by PID. The shared stack uses devstack/stack.py; this is for tests and chaos."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from devstack.kafka import Kafka, bootstrap_servers, brokers, registered_brokers
from devstack.process import StackError, free_port_block
from devstack.settings import StackSettings


@dataclass(frozen=True)
class Cluster:
    settings: StackSettings

    @property
    def brokers(self) -> list[Kafka]:
        return brokers(self.settings)

    @property
    def bootstrap(self) -> str:
        return bootstrap_servers(self.settings)

    def broker(self, node: int) -> Kafka:
        return Kafka(self.settings, node)

    def complete(self) -> bool:
        """Every broker answers and lists every broker of the cluster."""
        count = self.settings.kafka_brokers
        return all(registered_brokers(b.endpoint) == count for b in self.brokers)

    def start(self, timeout: float | None = None) -> None:
        """Start every broker that is not running (in parallel: a quorum needs its voters) and wait until complete."""
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        todo = [b for b in self.brokers if b.owned() is None]
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            list(pool.map(Kafka.start, todo))
        self.wait_complete(timeout)

    def wait_complete(self, timeout: float | None = None) -> None:
        limit = self.settings.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while not self.complete():
            dead = [b.name for b in self.brokers if b.owned() is None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"not complete within {limit:.0f}s"
                msg = f"Kafka cluster in {self.settings.state_dir}: {why}; see {self.settings.log_dir}"
                raise StackError(msg)
            time.sleep(0.5)

    def stop(self) -> list[str]:
        """Stop every broker of ours (SIGTERM, then SIGKILL after the timeout); the names stopped."""
        with ThreadPoolExecutor(max_workers=len(self.brokers)) as pool:
            stopped = list(pool.map(lambda b: b.name if b.stop() else None, self.brokers))
        return [name for name in stopped if name]


def private_settings(state_dir: Path, *, brokers: int = 3, heap: str = "512m") -> StackSettings:
    """Settings for a private cluster of `brokers` brokers in `state_dir`, on a free block of ports."""
    base = free_port_block(2 * brokers)
    return replace(
        StackSettings(),
        state_dir=state_dir,
        kafka_port=base,
        kafka_controller_port=base + 1,
        kafka_brokers=brokers,
        kafka_heap=heap,
    )

"""The nemesis: one fault at a time from the schedule, on the processes the run started (by PID), each followed
by its recovery: from the fault's end until every file in flight has its next row acknowledged (or finished)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devstack.chaos.schedule import Fault
from devstack.chaos.services import Process
from devstack.chaos.traffic import Traffic

logger = logging.getLogger(__name__)
RECOVERY_LIMIT = 180.0  # seconds; a fault not recovered by then is reported as such


@dataclass
class Injected:
    """What one fault did: on which process, when (wall clock), and how long the pipeline took to recover."""

    fault: Fault
    target: str
    start: float
    end: float
    in_flight: int  # files unfinished at the fault's end
    recovery: float | None  # None: nothing in flight, or not recovered within RECOVERY_LIMIT
    recovered: bool
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        f = self.fault
        return {
            "index": f.index, "kind": f.kind, "target": self.target, "duration": f.duration,
            "start": self.start, "end": self.end, "in_flight": self.in_flight,
            "recovery_seconds": None if self.recovery is None else round(self.recovery, 3),
            "recovered": self.recovered, "note": self.note,
        }  # fmt: skip


class Nemesis:
    def __init__(self, procs: dict[str, Process], traffic: Traffic, bootstrap: str, topic: str) -> None:
        self.procs = procs
        self.traffic = traffic
        self.bootstrap = bootstrap
        self.topic = topic
        self.done: list[Injected] = []

    async def run(self, schedule: Iterator[Fault], until: float) -> list[Injected]:
        """Faults one after another until `until` (monotonic); every process running again at the end."""
        try:
            for fault in schedule:
                await asyncio.sleep(fault.gap)
                if time.monotonic() >= until:
                    break
                self.done.append(await self.inject(fault))
                logger.info("fault %s", self.done[-1].as_dict())
        finally:
            await self.heal()
        return self.done

    async def inject(self, fault: Fault) -> Injected:
        target = await self.leader(fault.index) if fault.target == "leader" else fault.target
        proc = self.procs[target]
        start = time.time()
        note = ""
        try:
            if fault.kind.endswith("-kill"):
                await proc.kill()
                await asyncio.sleep(fault.duration)
                if not await proc.bring_back():
                    note = f"{target} did not come back"
            elif fault.kind == "kafka-slow":
                for n, step in enumerate(fault.stutter):
                    proc.signal(signal.SIGSTOP if n % 2 == 0 else signal.SIGCONT)
                    await asyncio.sleep(step)
            else:
                proc.signal(signal.SIGSTOP)
                await asyncio.sleep(fault.duration)
        finally:
            proc.signal(signal.SIGCONT)
        end = time.time()
        in_flight, recovery = await self.recovery()
        return Injected(fault, target, start, end, in_flight, recovery, recovery is not None or not in_flight, note)

    async def recovery(self) -> tuple[int, float | None]:
        """Seconds until every file unfinished now has loaded more rows or finished."""
        t0 = time.monotonic()
        waiting = {v: max(loaded, 0) for v, loaded in self.traffic.unfinished().items()}
        count = len(waiting)
        if not waiting:
            return 0, None
        while time.monotonic() - t0 < RECOVERY_LIMIT:
            for version, loaded in list(waiting.items()):
                seen = self.traffic.seen.get(version)
                if seen is not None and (seen.final_at is not None or seen.rows_loaded > loaded):
                    del waiting[version]
            if not waiting:
                return count, time.monotonic() - t0
            await asyncio.sleep(0.1)
        return count, None

    async def leader(self, index: int) -> str:
        """The broker leading partition (index mod partitions) of the claims topic now."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        try:
            async with asyncio.timeout(10):
                await admin.start()
                (described,) = await admin.describe_topics([self.topic])
            partitions = sorted(described["partitions"], key=lambda p: p["partition"])
            leader = partitions[index % len(partitions)]["leader"] if partitions else 1 + index % 3
        except (KafkaError, OSError, TimeoutError, KeyError, ValueError, IndexError):
            leader = 1 + index % 3
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()
        return f"kafka-{leader}" if f"kafka-{leader}" in self.procs else "kafka-1"

    async def heal(self) -> None:
        """SIGCONT every process and bring back any that is not running."""
        for proc in self.procs.values():
            proc.signal(signal.SIGCONT)
        for proc in self.procs.values():
            if proc.owned() is None:
                await proc.bring_back()

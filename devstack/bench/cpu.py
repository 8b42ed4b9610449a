"""CPU seconds each process of the pipeline spends during a measured window (Linux /proc), per million rows.

What limits end-to-end throughput on a small machine is the CPU all processes share: the worker, the
bridge, Kafka, PostgreSQL (its backends are child processes) and moto. Counting each one's user + system
time over the same window says where the cores went, and so what the machine allows at best.
"""

from __future__ import annotations

import os
from pathlib import Path

from devstack.process import read_owned
from devstack.settings import StackSettings

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd on: the name may hold spaces


def _children(pid: int) -> list[int]:
    parent = str(pid)
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None and fields[1] == parent
    ]


def cpu_seconds(pid: int) -> float:
    """User + system seconds of the process, its reaped children and its live children (PostgreSQL backends)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    live = 0
    for child in _children(pid):
        if (c := _stat(child)) is not None:
            live += int(c[11]) + int(c[12])
    return (utime + stime + cutime + cstime + live) / _TICKS


def stack_pids(settings: StackSettings) -> dict[str, int]:
    """The local stack's own processes, by service."""
    files = {
        "kafka": settings.state_dir / "kafka" / "kafka.pid",
        "postgres": settings.state_dir / "postgres.pid",
        "moto": settings.state_dir / "moto.pid",
    }
    pids = {}
    for name, file in files.items():
        owned = read_owned(file)
        if owned is not None:
            pids[name] = owned.pid
    return pids


class CpuWindow:
    """Snapshot CPU seconds of named processes at start(); stop() gives each one's seconds since."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {name: max(0.0, cpu_seconds(pid) - self._start.get(name, 0.0)) for name, pid in self.pids.items()}

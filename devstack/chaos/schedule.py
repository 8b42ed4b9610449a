"""The nemesis' schedule, pure and seeded: which fault, on what, for how long, after what pause. Same seed, same
schedule. Durations are drawn mostly short (1-10 s, log-uniform) with a tail to 120 s."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

# kind -> (weight, targets). A target is a process role the run started; "leader" is resolved when the fault
# is injected (the broker leading a partition of a row topic).
KINDS: dict[str, tuple[int, tuple[str, ...]]] = {
    "worker-kill": (14, ("worker-1", "worker-2")),  # SIGKILL, restarted under the same name after the duration
    "worker-freeze": (12, ("worker-1", "worker-2")),  # SIGSTOP for the duration, then SIGCONT
    "bridge-kill": (7, ("bridge",)),
    "bridge-freeze": (6, ("bridge",)),
    "broker-kill": (8, ("kafka-1", "kafka-2", "kafka-3")),
    "leader-kill": (8, ("leader",)),
    "broker-freeze": (6, ("kafka-1", "kafka-2", "kafka-3", "leader")),
    "kafka-slow": (8, ("kafka-1", "kafka-2", "kafka-3", "leader")),  # stutter: stopped 0.2-1 s, running as long
    "postgres-kill": (7, ("postgres",)),
    "postgres-freeze": (6, ("postgres",)),
    "moto-freeze": (6, ("moto",)),  # moto keeps S3 and SQS in memory: a SIGKILL would lose them, unlike AWS
}
SHORT = (1.0, 10.0)
TAIL = (10.0, 120.0)
TAIL_SHARE = 0.05
GAP = (0.2, 1.5)  # pause after a fault has recovered, before the next one
# Histogram buckets of the drawn durations, for the report: upper bounds in seconds.
BUCKETS = (2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Fault:
    index: int
    kind: str
    target: str
    duration: float  # seconds the process stays stopped (frozen, or dead until restarted)
    gap: float  # seconds to wait after the previous fault recovered
    stutter: tuple[float, ...] = ()  # kafka-slow: alternating stopped/running seconds, summing to the duration

    @property
    def process_kind(self) -> str:
        return self.kind.split("-", 1)[0]


def process_of(kind: str) -> str:
    """The kind of process a fault kind hits: worker, bridge, kafka, postgres or moto."""
    prefix = kind.split("-", 1)[0]
    return "kafka" if prefix in {"broker", "leader", "kafka"} else prefix


def draw_duration(rng: random.Random) -> float:
    """1-10 s log-uniform, with TAIL_SHARE of the draws log-uniform in 10-120 s."""
    low, high = TAIL if rng.random() < TAIL_SHARE else SHORT
    return round(math.exp(rng.uniform(math.log(low), math.log(high))), 3)


def faults(seed: int) -> Iterator[Fault]:
    """The endless schedule of `seed`; the run takes faults from it until its time is up."""
    rng = random.Random(seed)
    kinds = sorted(KINDS)
    weights = [KINDS[k][0] for k in kinds]
    index = 0
    while True:
        kind = rng.choices(kinds, weights)[0]
        target = rng.choice(KINDS[kind][1])
        duration = draw_duration(rng)
        gap = round(rng.uniform(*GAP), 3)
        stutter: tuple[float, ...] = ()
        if kind == "kafka-slow":
            stutter = _stutter(rng, duration)
        yield Fault(index=index, kind=kind, target=target, duration=duration, gap=gap, stutter=stutter)
        index += 1


def first(seed: int, count: int) -> list[Fault]:
    return list(islice(faults(seed), count))


def _stutter(rng: random.Random, duration: float) -> tuple[float, ...]:
    steps: list[float] = []
    left = duration
    while left > 0:
        step = min(left, round(rng.uniform(0.2, 1.0), 3))
        steps.append(step)
        left = round(left - step, 3)
    return tuple(steps)


def histogram(durations: list[float]) -> dict[str, int]:
    """Counts of durations per bucket ("<=2s", "<=5s", ...), for the report."""
    counts = {f"<={int(b)}s": 0 for b in BUCKETS}
    for d in durations:
        for bound in BUCKETS:
            if d <= bound:
                counts[f"<={int(bound)}s"] += 1
                break
    return counts

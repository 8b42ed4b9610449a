"""Consumer lag per topic-partition of the fan-out agent's group and of each sink group (pure; read by lag_reader).

Lag is what the broker holds that the group has not committed: the partition's log end offset minus the
group's committed offset. A partition the group never committed counts from the log start, because every
consumer of the pipeline starts at the earliest offset; a committed offset that retention has since
deleted counts from the log start too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Watched:
    """One consumer group and the topic it consumes, as the stats page names it."""

    role: str  # "fan-out" or "sink <dataset>"
    group: str
    topic: str


@dataclass(frozen=True, kw_only=True)
class PartitionLag:
    """The lag of one group on one topic-partition, with the offsets it is computed from."""

    role: str
    group: str
    state: str  # the group's state: Stable, Empty, PreparingRebalance, ... or Unknown (never seen)
    members: int
    topic: str
    partition: int
    committed: int | None
    log_start: int
    log_end: int

    @property
    def lag(self) -> int:
        consumed_to = self.log_start if self.committed is None else max(self.committed, self.log_start)
        return max(0, self.log_end - consumed_to)


@dataclass(frozen=True, kw_only=True)
class LagProblem:
    """A group whose lag could not be read (its topic is missing, it uses another protocol, ...)."""

    role: str
    group: str
    topic: str
    reason: str

"""Test-only fault points: a process kills itself (SIGKILL) at an exact moment, to prove what a crash costs.

Off unless configured (STREAMPROC_FAULTS / BRIDGE_FAULTS), e.g. "split:5000,sink-commit:3": the worker dies
once a split has emitted 5000 rows, or after the third sink batch is committed to PostgreSQL but before its
offsets are committed to Kafka. Points: split, sink-write (inside the batch's transaction, before its
commit), sink-commit, relay-delete (the bridge: produced and acknowledged, not yet deleted from SQS).
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)
POINTS = frozenset({"split", "sink-write", "sink-commit", "relay-delete"})


@dataclass
class Faults:
    """Where to die: point -> the count at which to; counts per point as the process runs."""

    at: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        at = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            point, _, count = part.partition(":")
            if point not in POINTS or not count.isdigit() or int(count) < 1:
                msg = f"fault {part!r}: expected POINT:COUNT with POINT one of {', '.join(sorted(POINTS))}"
                raise ValueError(msg)
            at[point] = int(count)
        return cls(at=at)

    def hit(self, point: str, amount: int = 1) -> None:
        """Count `amount` more at `point`; reaching the configured count kills this process at once."""
        if point not in self.at:
            return
        self.seen[point] = self.seen.get(point, 0) + amount
        if self.seen[point] >= self.at[point]:
            logger.error("fault point %s reached (%d): killing this process", point, self.seen[point])
            os.kill(os.getpid(), signal.SIGKILL)

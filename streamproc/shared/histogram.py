"""Fixed-bucket histograms kept inside the stats dataclasses, so /metrics reads the one set of counters (pure)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Rows per sink batch (the batch size is bounded by STREAMPROC_SINK_BATCH_SIZE, 5000 by default).
BATCH_ROWS_BUCKETS = (1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0)
# Seconds one sink batch takes from the write's start to its offset commit.
WRITE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    """Counts per bucket (upper bounds inclusive, as Prometheus' `le`), their sum, and the observation count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # one per bound, then one for +Inf; not cumulative
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, observations <= le) per bucket, ending with +Inf: the shape Prometheus exposes."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out

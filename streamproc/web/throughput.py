"""Rows per second over the last minute, from cumulative counters sampled every second into a ring buffer (pure)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class _Sample:
    at: float  # monotonic seconds
    counters: Mapping[str, int]


class Throughput:
    """Keeps the samples of the last `window` seconds; rates are differences of cumulative counters."""

    def __init__(self, window: float = 60.0, max_samples: int = 240) -> None:
        self.window = window
        self._samples: deque[_Sample] = deque(maxlen=max_samples)

    def sample(self, at: float, counters: Mapping[str, int]) -> None:
        """Record the counters' values at `at`; samples older than the window are dropped (one is kept
        at or before the window's start, so a rate always spans the whole minute once there is one)."""
        self._samples.append(_Sample(at, dict(counters)))
        while len(self._samples) > 2 and self._samples[1].at <= at - self.window:
            self._samples.popleft()

    def rate(self, name: str) -> float:
        """Average per second over the window (0.0 until two samples exist)."""
        if len(self._samples) < 2:
            return 0.0
        first, last = self._samples[0], self._samples[-1]
        elapsed = last.at - first.at
        if elapsed <= 0:
            return 0.0
        return max(0, last.counters.get(name, 0) - first.counters.get(name, 0)) / elapsed

    def series(self, name: str) -> list[float]:
        """Per second between consecutive samples, oldest first: what a sparkline draws."""
        pairs = zip(self._samples, list(self._samples)[1:], strict=False)
        return [
            max(0, b.counters.get(name, 0) - a.counters.get(name, 0)) / (b.at - a.at) if b.at > a.at else 0.0
            for a, b in pairs
        ]


@dataclass(frozen=True, kw_only=True)
class TopicRate:
    """Rows per second into a topic (produced) and out of it (taken by its sink), over the last minute."""

    topic: str
    dataset: str
    produced: float
    consumed: float
    series: list[float]  # the sink's rows/s, one value per sample

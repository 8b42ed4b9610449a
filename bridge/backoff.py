"""Capped exponential backoff with jitter, and sleeps that end early when the service is told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import random

_JITTER = random.SystemRandom()


class Backoff:
    """Delays initial, 2*initial, ... up to cap, each with up to 20% jitter; reset() after a success."""

    def __init__(self, initial: float, cap: float) -> None:
        self._initial = initial
        self._cap = cap
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        return delay * _JITTER.uniform(0.8, 1.0)

    def reset(self) -> None:
        self._next = self._initial


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `stop` is set; True if stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def wait_either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return as soon as either event is set."""
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)

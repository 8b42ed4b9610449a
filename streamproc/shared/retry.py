"""One capped exponential backoff, retry-in-place of transient errors, and sleeps that end early on stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from streamproc.shared.errors import is_transient

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Jitter spreads the retries of several processes; it needs no cryptographic randomness, but S311 asks for this.
_JITTER = random.SystemRandom()


class Backoff:
    """Delays initial, 2*initial, ... up to cap, each shortened by up to half at random; reset() after a success.

    A cap below `initial` lowers the first delay to the cap.
    """

    def __init__(self, initial: float = 0.2, cap: float = 30.0) -> None:
        if not (initial > 0 and cap > 0):
            msg = f"backoff delays must be positive, got {initial} and {cap}"
            raise ValueError(msg)
        initial = min(initial, cap)
        self._initial = initial
        self._cap = cap
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._cap, self._next * 2)
        return delay * _JITTER.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._next = self._initial


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    backoff: Backoff,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Run `op` until it succeeds or raises a non-transient error; cancellation ends the wait.

    `on_retry` sees every transient error before the wait (counters, health).
    """
    attempt = 1
    while True:
        try:
            return await op()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if on_retry is not None:
                on_retry(exc)
            delay = backoff.next()
            logger.warning("%s: %s (attempt %d); retrying in %.1fs", what, exc, attempt, delay)
        await asyncio.sleep(delay)
        attempt += 1


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

"""Retry in place: transient errors (`retriable` is true) wait with capped exponential backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
_JITTER = random.SystemRandom()


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "retriable", False))


async def retry_transient(op: Callable[[], Awaitable[T]], *, what: str, cap: float = 30.0, first: float = 0.2) -> T:
    """Run `op` until it succeeds or raises a non-transient error; cancellation stops the wait."""
    delay = first
    attempt = 1
    while True:
        try:
            return await op()
        except Exception as exc:
            if not is_transient(exc):
                raise
            logger.warning("%s: transient %s (attempt %d), retrying in %.1fs", what, type(exc).__name__, attempt, delay)
        # Jitter spreads the retries of several workers; it needs no cryptographic randomness.
        await asyncio.sleep(delay * _JITTER.uniform(0.5, 1.0))
        delay = min(cap, delay * 2)
        attempt += 1

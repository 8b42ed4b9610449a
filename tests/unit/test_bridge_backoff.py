"""Capped exponential backoff and stop-aware sleeps."""

from __future__ import annotations

import asyncio

from bridge.backoff import Backoff, sleep_unless, wait_either


def test_delays_double_up_to_the_cap_with_at_most_twenty_percent_jitter() -> None:
    backoff = Backoff(0.5, 3.0)
    delays = [backoff.next() for _ in range(6)]
    for delay, nominal in zip(delays, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0], strict=True):
        assert 0.8 * nominal <= delay <= nominal


def test_reset_starts_again_from_the_initial_delay() -> None:
    backoff = Backoff(0.5, 3.0)
    for _ in range(4):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 0.5


async def test_a_sleep_ends_early_when_stopping() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_soon(stop.set)
    async with asyncio.timeout(5):
        assert await sleep_unless(stop, 3600)


async def test_a_sleep_without_stop_reports_not_stopping() -> None:
    assert not await sleep_unless(asyncio.Event(), 0.001)


async def test_wait_either_returns_on_the_second_event() -> None:
    first, second = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_soon(second.set)
    async with asyncio.timeout(5):
        await wait_either(first, second)
    assert not first.is_set()

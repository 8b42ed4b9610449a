"""The one backoff (capped, jittered), retry in place of transient errors only, and stop-aware sleeps."""

from __future__ import annotations

import asyncio

import pytest

from streamproc.shared.errors import TerminalError, TransientError
from streamproc.shared.retry import Backoff, retry_transient, sleep_unless, wait_either


def test_delays_double_up_to_the_cap_with_at_most_half_taken_off_by_jitter() -> None:
    backoff = Backoff(0.5, 3.0)
    delays = [backoff.next() for _ in range(6)]
    for delay, nominal in zip(delays, [0.5, 1.0, 2.0, 3.0, 3.0, 3.0], strict=True):
        assert 0.5 * nominal <= delay <= nominal


def test_a_cap_below_the_first_delay_lowers_the_first_delay() -> None:
    assert Backoff(2.0, 0.01).next() <= 0.01


def test_a_backoff_without_positive_delays_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Backoff(0.0, 1.0)


async def test_transient_errors_are_retried_until_the_call_succeeds() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            msg = "not yet"
            raise TransientError(msg)
        return "done"

    assert await retry_transient(flaky, what="flaky", backoff=Backoff(0.001, 0.002)) == "done"
    assert len(calls) == 3


@pytest.mark.parametrize("error", [TerminalError("refused"), KeyError("a bug")])
async def test_terminal_and_foreign_errors_are_raised_at_once(error: Exception) -> None:
    calls: list[int] = []

    async def broken() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        await retry_transient(broken, what="broken", backoff=Backoff(0.001, 0.002))
    assert calls == [1]


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

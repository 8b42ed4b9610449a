"""Health checks of the services the worker depends on: each one a probe, a verdict and the reason (pure)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamproc.shared.errors import StreamprocError
from streamproc.shared.logs import describe

KAFKA, POSTGRES, S3, SQS = "kafka", "postgres", "s3", "sqs"
SINKS, FILES = "sinks", "files"  # the pipeline's own work, judged from its stats and the ledger
STALLED_SHOWN = 5  # file ids a files check names; the rest are counted
LABELS = {
    KAFKA: "Kafka",
    POSTGRES: "PostgreSQL",
    S3: "S3",
    SQS: "SQS (via the bridge)",
    SINKS: "Sinks",
    FILES: "Unfinished files",
}


@dataclass(frozen=True, kw_only=True)
class Check:
    """One service's health at `checked_at`; `reason` says why when it is not ok."""

    name: str
    ok: bool
    reason: str | None
    checked_at: datetime
    # False: a failed check needs an operator's attention but restarting the worker would not cure it, so
    # /healthz says "degraded" with 200 rather than "unhealthy" with 503.
    critical: bool = True

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)


def pending(name: str) -> Check:
    """A service not checked yet."""
    return Check(name=name, ok=False, reason="not checked yet", checked_at=datetime.now(UTC))


async def check(name: str, probe: Callable[[], Awaitable[None]], within: float) -> Check:
    """Run `probe`: ok if it returns within `within` seconds; the project's errors and a timeout give the reason.

    Any other exception is a bug in the probe and propagates.
    """
    reason: str | None = None
    try:
        await asyncio.wait_for(probe(), within)
    except TimeoutError:
        reason = f"no answer within {within:g}s"
    except StreamprocError as exc:
        reason = str(exc) or describe(exc)  # the project's messages never hold a value
    return Check(name=name, ok=reason is None, reason=reason, checked_at=datetime.now(UTC))


@dataclass(frozen=True, kw_only=True)
class SinkState:
    """What the sinks check needs of one sink (from its SinkStats)."""

    dataset: str
    failing_since: float | None  # wall-clock seconds
    last_error: str | None
    restarts: int


def sinks_check(sinks: Sequence[SinkState], *, now: float, after: float) -> Check:
    """Not ok while a sink has been failing for more than `after` seconds: its writes retried or its starts
    failing (the work behind it waits, so an operator must look). A shorter failure is an ordinary blip."""
    stuck = [s for s in sinks if s.failing_since is not None and now - s.failing_since > after]
    reason = "; ".join(
        f"sink {s.dataset}: failing for {now - (s.failing_since or now):.0f} s"
        f"{f', {s.restarts} restarts' if s.restarts else ''}: {s.last_error or 'unknown error'}"
        for s in stuck
    )
    return Check(name=SINKS, ok=not stuck, reason=reason or None, checked_at=_at(now), critical=False)


def files_check(stalled: Sequence[Mapping[str, Any]], *, after: float, now: float) -> Check:
    """Not ok while a file version is unfinished with no live claim and no progress for `after` seconds:
    nothing is working on it (`streamproc reprocess` starts it again)."""
    if not stalled:
        return Check(name=FILES, ok=True, reason=None, checked_at=_at(now), critical=False)
    shown = ", ".join(f"#{r['id']} ({r['status']})" for r in stalled[:STALLED_SHOWN])
    more = f" and {len(stalled) - STALLED_SHOWN} more" if len(stalled) > STALLED_SHOWN else ""
    reason = (
        f"{len(stalled)} file(s) unfinished with no progress for over {after:.0f} s: {shown}{more}; "
        "`streamproc status --status processing` lists them, `streamproc reprocess s3://BUCKET/KEY` starts one again"
    )
    return Check(name=FILES, ok=False, reason=reason, checked_at=_at(now), critical=False)


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)

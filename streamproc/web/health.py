"""Health checks of the services the worker depends on: each one a probe, a verdict and the reason (pure)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from streamproc.shared.errors import StreamprocError
from streamproc.shared.logs import describe

KAFKA, POSTGRES, S3, SQS = "kafka", "postgres", "s3", "sqs"
LABELS = {KAFKA: "Kafka", POSTGRES: "PostgreSQL", S3: "S3", SQS: "SQS (via the bridge)"}


@dataclass(frozen=True, kw_only=True)
class Check:
    """One service's health at `checked_at`; `reason` says why when it is not ok."""

    name: str
    ok: bool
    reason: str | None
    checked_at: datetime

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

"""The bridge's health view over HTTP: how the worker learns whether SQS answers the bridge."""

from __future__ import annotations

import aiohttp
import msgspec

from streamproc.shared.errors import TransientError


class BridgeUnreachable(TransientError):
    """The bridge's health view did not answer, or answered something that is not its health report."""


class QueueUnhealthy(TransientError):
    """The bridge answers, and reports that SQS does not."""


class _Check(msgspec.Struct, frozen=True):
    ok: bool
    reason: str | None = None


class _Report(msgspec.Struct, frozen=True):
    status: str
    checks: dict[str, _Check]


_DECODER = msgspec.json.Decoder(_Report)


class BridgeHealth:
    """One aiohttp client session, opened in start() and closed in stop()."""

    def __init__(self, url: str, *, timeout: float = 3.0) -> None:
        self.url = url
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def sqs(self) -> None:
        """Raise BridgeUnreachable or QueueUnhealthy unless the bridge reports SQS healthy now."""
        if self._session is None:
            msg = "BridgeHealth.start() was not called"
            raise BridgeUnreachable(msg)
        try:
            # 200 and 503 both carry the report; anything else is not the bridge's health view.
            async with self._session.get(self.url) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            msg = f"the bridge's health view at {self.url} did not answer ({type(exc).__name__})"
            raise BridgeUnreachable(msg) from exc
        try:
            report = _DECODER.decode(body) if status in {200, 503} else None
        except msgspec.DecodeError:
            report = None
        check = report.checks.get("sqs") if report else None
        if check is None:
            msg = f"{self.url} answered HTTP {status} without an SQS check: is it the bridge?"
            raise BridgeUnreachable(msg)
        if not check.ok:
            msg = f"the bridge reports: {check.reason or 'SQS unhealthy'}"
            raise QueueUnhealthy(msg)

"""The bridge's loopback HTTP views: /healthz (SQS and Kafka as the bridge sees them) and /metrics (its counters)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import msgspec
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from bridge.dlq_mirror import DlqMirror
from bridge.relay import Relay
from bridge.settings import BridgeSettings, QueueRef
from bridge.sqs import QueueError

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0  # seconds SQS has to answer a health probe
_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

_RELAY_HELP = {
    "received": "SQS messages received, redeliveries included.",
    "produced": "Object events relayed to Kafka and acknowledged.",
    "test_events": "s3:TestEvent messages deleted.",
    "ignored": "Records of other S3 event types in deleted messages.",
    "dead_lettered": "Dead letters the relay produced and Kafka acknowledged.",
    "deleted": "SQS messages deleted after Kafka acknowledged everything they caused.",
    "errors": "Failed SQS or Kafka calls of the relay (each retried or left for redelivery).",
}
_MIRROR_HELP = {
    "consumed": "Dead-letter records fetched from Kafka, refetches included.",
    "sent": "Dead letters mirrored to the SQS DLQ (accepted by SQS).",
    "truncated": "Mirrored dead letters cut to SQS's size limit.",
    "committed": "Dead-letter records whose offsets were committed.",
    "errors": "Failed SQS or Kafka calls of the mirror (each retried).",
    "stood_in": "Dead letters SQS refused for good, mirrored as a stand-in that points at the Kafka record.",
    "abandoned": "Stand-ins SQS refused too: not mirrored; the dead letter stays on the Kafka topic.",
}

_VISIBILITY_HELP = {
    "extended": "Received messages whose visibility SQS extended while their produce or delete was pending.",
    "stale": "Extensions SQS refused for a stale receipt handle (the message was received again meanwhile).",
    "failed": "ChangeMessageVisibilityBatch calls that failed (retried at the next tick).",
}


class BridgeCollector(Collector):
    """The relay's and the mirror's stats dataclasses, read at scrape time, and whether Kafka paused the relay."""

    def __init__(self, relay: Relay | None, mirror: DlqMirror | None) -> None:
        self.relay = relay
        self.mirror = mirror

    def collect(self) -> Iterator[Metric]:
        if self.relay is not None:
            counts = self.relay.stats.as_dict()
            for name, text in _RELAY_HELP.items():
                yield CounterMetricFamily(f"bridge_relay_{name}", text, value=counts[name])
            extensions = self.relay.visibility.as_dict()
            for name, text in _VISIBILITY_HELP.items():
                yield CounterMetricFamily(f"bridge_relay_visibility_{name}", text, value=extensions[name])
            paused = GaugeMetricFamily(
                "bridge_relay_kafka_paused", "1 while the relay stopped receiving because Kafka does not answer."
            )
            paused.add_metric([], 0 if self.relay.kafka_available else 1)
            yield paused
        if self.mirror is not None:
            counts = self.mirror.stats.as_dict()
            for name, text in _MIRROR_HELP.items():
                yield CounterMetricFamily(f"bridge_mirror_{name}", text, value=counts[name])


class ProbedQueue(Protocol):
    """What the health view asks of SQS (bridge.sqs.Sqs, with a short read timeout)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def resolve(self, ref: QueueRef) -> str: ...
    async def attributes(self, url: str) -> dict[str, str]: ...


class HttpServer:
    """A small aiohttp server, bound to BRIDGE_HTTP_HOST:BRIDGE_HTTP_PORT (loopback by default)."""

    def __init__(self, settings: BridgeSettings, services: Sequence[object], *, sqs: ProbedQueue) -> None:
        self.settings = settings
        self.relay = next((s for s in services if isinstance(s, Relay)), None)
        self.mirror = next((s for s in services if isinstance(s, DlqMirror)), None)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BridgeCollector(self.relay, self.mirror))
        self._sqs = sqs
        self._queue_url: str | None = None
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        """Raises OSError when the address is taken."""
        await self._sqs.start()
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, self.settings.http_port)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        logger.info("bridge: /healthz and /metrics on http://%s:%d", self.settings.http_host, self.settings.http_port)

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._sqs.stop()

    async def healthz(self, request: web.Request) -> web.Response:
        """200 when SQS answers (and the relay reaches Kafka); 503 with the reasons otherwise."""
        checks: dict[str, dict[str, Any]] = {"sqs": await self._probe_sqs()}
        if self.relay is not None:
            ok = self.relay.kafka_available
            checks["kafka"] = {"ok": ok, "reason": None if ok else "the relay cannot reach Kafka: receives paused"}
        healthy = all(c["ok"] for c in checks.values())
        body = {"status": "ok" if healthy else "unhealthy", "checks": checks}
        return web.Response(
            body=msgspec.json.encode(body),
            status=200 if healthy else 503,
            content_type="application/json",
            headers=_HEADERS,
        )

    async def _probe_sqs(self) -> dict[str, Any]:
        """The notification queue answers GetQueueAttributes within the probe timeout."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                if self._queue_url is None:
                    self._queue_url = await self._sqs.resolve(self.settings.queue)
                await self._sqs.attributes(self._queue_url)
        except TimeoutError:
            return {"ok": False, "reason": f"SQS did not answer within {PROBE_TIMEOUT:g}s"}
        except QueueError as exc:
            return {"ok": False, "reason": str(exc)}
        return {"ok": True, "reason": None}

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers=_HEADERS | {"Content-Type": CONTENT_TYPE_LATEST}
        )

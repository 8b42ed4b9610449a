"""The one place that builds the bridge's real adapters (SQS client, Kafka producer and consumer) and hands them
to the relay, the DLQ mirror and the health server, which take them as arguments (unit tests hand them fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bridge.dlq_mirror import DlqMirror
from bridge.http import PROBE_TIMEOUT, HttpServer
from bridge.relay import Relay
from bridge.settings import BridgeSettings
from bridge.sqs import Sqs
from streamproc.kafka.consumer import BatchConsumer
from streamproc.kafka.producer import Producer

COMMANDS = ("all", "relay", "dlq-mirror")


class Service(Protocol):
    def stop(self) -> None: ...
    async def run(self) -> None: ...


def relay(settings: BridgeSettings) -> Relay:
    """The relay over a real SQS client (its long polls' read timeout above their wait) and Kafka producer."""
    sqs = Sqs(settings.aws, read_timeout=settings.wait_seconds + 30)
    return Relay(settings, sqs=sqs, producer=Producer(settings.kafka, ack_timeout=settings.produce_timeout))


def mirror(settings: BridgeSettings) -> DlqMirror:
    """The DLQ mirror over a real SQS client and a consumer of the dead-letter topic in its own group."""
    consumer = BatchConsumer(
        settings.kafka, [settings.topics.deadletter], settings.dlq_group, max_records=settings.dlq_max_records
    )
    return DlqMirror(settings, sqs=Sqs(settings.aws), consumer=consumer)


def http_server(settings: BridgeSettings, services: Sequence[object]) -> HttpServer:
    """/healthz and /metrics for these services, probing SQS with a short read timeout."""
    return HttpServer(settings, services, sqs=Sqs(settings.aws, read_timeout=PROBE_TIMEOUT))


def build(settings: BridgeSettings, command: str) -> list[Service]:
    """The services `python -m bridge COMMAND` runs."""
    services: list[Service] = []
    if command in {"all", "relay"}:
        services.append(relay(settings))
    if command in {"all", "dlq-mirror"}:
        services.append(mirror(settings))
    return services

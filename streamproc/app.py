"""The Faust app (`faust -A streamproc.app worker`): the fan-out agent on `ingest.objects`, the pipeline service,
the web routes and the CLI commands, built from the environment's settings when this module is imported."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import faust
from faust.types import TP
from faust.types.transports import TransportT

from streamproc.cli import commands
from streamproc.datasets.registry import Registry, load_registry
from streamproc.ingest.split_context import Position
from streamproc.kafka import faust_driver
from streamproc.shared.logs import json_logging_config
from streamproc.shared.settings import METADATA_MAX_AGE_MS, KafkaConnection
from streamproc.web import routes
from streamproc.worker.pipeline import FANOUT_STOP_GRACE, Pipeline
from streamproc.worker.settings import WorkerSettings

logger = logging.getLogger(__name__)


class _App(faust.App):
    """faust.App whose stop lets go of the file in hand first. Faust's own stop begins by waiting until the event
    in hand is acked: the split of the whole file (a large one held a SIGTERMed worker for minutes) or, for an
    event of a newer schema, forever. `FanOut.stop` ends the split at once with its claim released (the ledger is
    still up), and the agent leaves the event unacked, so the partition's next owner resumes the file. Its transport
    (`kafka.faust_driver`) creates the start-up topics even while one broker is down, and a rebalance that takes
    the partition of the event in hand away lets go of that file the same way."""

    pipeline: Pipeline | None = None

    def _new_transport(self) -> TransportT:
        return faust_driver.Transport(self.conf.broker_consumer, self)  # topic creation survives a broker down

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Faust's handler waits until the event in hand is acked, i.e. for the split of the whole file: a new
        # worker joining waited for a large file. Let go of it first, if its partition is among those revoked, but
        # only once the flow is stopped and the agents' buffers are cleared, as Faust's handler does before it
        # waits: else the agent took the next buffered event of the partition at once, and that event's ack let
        # Faust commit past the one let go, which no worker then resumed (seed 1644, chaos-002039).
        if self.pipeline is not None and not self.should_stop:
            if self.consumer.assignment():
                self.consumer.stop_flow()
                self.flow_control.suspend()
                self.flow_control.clear()
            moved = {(tp.topic, tp.partition) for tp in revoked}
            await self.pipeline.fanout.revoked(moved, grace=FANOUT_STOP_GRACE)
        await super()._on_partitions_revoked(revoked)

    async def on_stop(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.fanout.stop(grace=FANOUT_STOP_GRACE)
        await super().on_stop()


def create_app(settings: WorkerSettings, registry: Registry) -> tuple[faust.App, Pipeline]:
    app = _App(settings.app_id, **_app_options(settings))
    pipeline = Pipeline(settings, registry, leave_on_stop=True, loop=app.loop, beacon=app.beacon)
    app.pipeline = pipeline
    objects = app.topic(
        settings.topics.objects,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.partitions,
        replicas=settings.topics.replication,
        retention=settings.topics.retention_ms / 1000,
        # internal=True makes Faust create the topic (if missing) before it subscribes; the broker does not
        # auto-create, and a topic created after subscription is only seen at the next metadata refresh.
        internal=True,
    )

    async def start_pipeline() -> None:
        await app.add_runtime_dependency(pipeline)

    app.task(start_pipeline)

    @app.agent(objects, name="split_objects")
    async def split_objects(stream: faust.StreamT[Any]) -> None:
        """One object event at a time. The handler never raises (Faust acks an event even when the agent raises).
        When it returns False the worker is stopping mid-file: the event must stay unacked so that the
        partition's next owner reads it again and resumes the file from its checkpoint."""
        async for event in stream.events():
            await pipeline.ready.wait()
            message = event.message
            where = Position(message.topic, message.partition, message.offset)
            done = False
            try:
                done = await pipeline.fanout.handle(event.value, where)
            finally:
                if not done:  # stopping, or the agent cancelled mid-file
                    # Faust's stream acks the event in hand whenever it moves on or is closed, cancellation
                    # included (faust/streams.py, the `finally` around `yield`). Marked acked here, without telling
                    # the consumer, that ack does nothing: the offset is never recorded as safe nor committed.
                    message.acked = True

    routes.install(app, settings, registry, pipeline)
    commands.install(app, settings, registry)
    return app, pipeline


def _app_options(settings: WorkerSettings) -> dict[str, Any]:
    return {
        "broker": ";".join(f"kafka://{h.strip()}" for h in settings.kafka.bootstrap_servers.split(",")),
        "broker_credentials": _credentials(settings.kafka),
        "store": "memory://",
        "datadir": str(_data_dir(settings)),
        "web_bind": settings.web_host,  # never 0.0.0.0 by default: Faust's pages expose internals
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        **routes.faust_web_options(settings),
        "topic_partitions": settings.topics.partitions,
        "topic_replication_factor": settings.topics.replication,
        "producer_acks": -1,
        "consumer_metadata_max_age_ms": METADATA_MAX_AGE_MS,  # why: streamproc.shared.settings
        "producer_metadata_max_age_ms": METADATA_MAX_AGE_MS,
        "consumer_auto_offset_reset": "earliest",
        # A static member: a worker restarted after a crash takes its partitions back without waiting for the
        # dead member's session to expire; a worker that stops cleanly leaves on purpose (Pipeline.on_stop).
        "consumer_group_instance_id": settings.member_name,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": max(1.0, settings.session_timeout / 4),
    }


def _data_dir(settings: WorkerSettings) -> Path:
    """Faust's working directory; Faust creates the last level only, so make its parents."""
    path = (
        Path(settings.data_dir) if settings.data_dir else Path(tempfile.gettempdir()) / "streamproc" / settings.app_id
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _credentials(kafka: KafkaConnection) -> Any:
    kwargs = kafka.client_kwargs()
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=kwargs.get("ssl_context"),
        )
    return kwargs.get("ssl_context")


settings = WorkerSettings.from_env()
registry = load_registry(settings.extra_datasets).qualified(settings.topics)
if not settings.controls:
    registry = registry.without_controls()
app, pipeline = create_app(settings, registry)
if settings.log_format == "json":
    app.conf.logging_config = json_logging_config()  # Faust's own lines too, from its first one

"""`reprocess s3://bucket/key`: force one finished file version through the pipeline again.

The version's object event is re-emitted on the objects topic, marked `forced`, with the original
event time, size, ETag and version id: provenance ordering then picks the same winning rows, so an
unchanged file changes no row, and the ledger counts one more attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.cli import argument, option

from streamproc.adapters.drop_zone import DropZone
from streamproc.cli import views
from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import Refused, Unavailable
from streamproc.cli.params import S3_URL
from streamproc.cli.status import file_row
from streamproc.contract.events import ENCODER, ObjectEvent
from streamproc.datasets.registry import Registry
from streamproc.ingest.ledger import DECLINED, FINAL, HELD, RELEASING
from streamproc.ingest.object_events import RELEASE, REPROCESS, event_of
from streamproc.kafka.producer import Producer
from streamproc.shared.delivery import NotDelivered
from streamproc.worker.settings import WorkerSettings


def forced_event(row: Mapping[str, Any]) -> ObjectEvent:
    """The object event of a ledger row, marked forced."""
    return event_of(row, REPROCESS, forced=True)


def release_event(row: Mapping[str, Any]) -> ObjectEvent:
    """The object event of a released ledger row: not forced, so that a worker that dies mid-release is resumed
    from its checkpoint by the next owner of the event."""
    return event_of(row, RELEASE)


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    del registry  # any file of the ledger, whatever its dataset

    @app.command(
        argument("file", type=S3_URL),
        option("--version", help="this version (S3 version id or ETag)  [default: the newest the ledger has]"),
        base=OperatorCommand,
    )
    async def reprocess(self: OperatorCommand, file: tuple[str, str], version: str | None) -> None:
        """Force one finished version of FILE (s3://bucket/key) through the pipeline again.

        Re-emits its object event (key bucket/key) marked forced, keeping the original event time, size,
        ETag and version id. The worker runs it as a new attempt; rows are upserted by provenance, so an
        unchanged file changes no row. Refused (exit 1) unless the version is finished (not DECLINED) and S3
        still holds it. A RELEASING version (its release command died before Kafka took its event) gets its
        release event again instead.
        """
        row = await file_row(settings, *file, version, "reprocess (upload it instead)")
        if row["status"] == HELD:
            msg = (
                f"{views.s3_url(row)} is HELD: it failed a control and awaits a decision; a reprocess would only "
                "hold it again (`status` shows the failed controls)"
            )
            raise Refused(msg)
        if row["status"] not in (*FINAL, RELEASING) or row["status"] == DECLINED:
            why = "declined: nothing of it is published" if row["status"] == DECLINED else "not finished: wait for it"
            msg = f"{views.s3_url(row)} is {row['status']}, {why} (`status` shows it)"
            raise Refused(msg)
        # A release whose event never reached Kafka (the release command died): its release event again.
        event = release_event(row) if row["status"] == RELEASING else forced_event(row)
        await check_still_in_s3(settings, event)
        partition, offset = await emit(settings, event)
        self.out(
            f"re-emitted {views.s3_url(row)} version {row['version']} ({row['status']} after attempt "
            f"{row['attempts']}) to {settings.topics.objects} [partition {partition}, offset {offset}]"
            + (", forced" if event.forced else ", its release")
        )
        self.out(f"the worker runs it as attempt {row['attempts'] + 1}; follow it: python -m streamproc status "
                 f"{views.s3_url(row)}")  # fmt: skip


async def check_still_in_s3(settings: WorkerSettings, event: ObjectEvent) -> None:
    """Refuse if S3 no longer holds these bytes: the worker would read whatever the key holds now."""
    async with DropZone(settings.aws, event.bucket) as zone:
        head = await zone.head(event.key, event.version_id)
    where = f"s3://{event.bucket}/{event.key}"
    if head is None:
        msg = f"{where} (version {event.version}) is no longer in S3: nothing to read again"
        raise Refused(msg)
    if event.etag and head.etag != event.etag:
        msg = (
            f"{where} now holds other bytes (ETag {head.etag}, the ledger's version has {event.etag}): "
            "upload the file again to ingest the new bytes"
        )
        raise Refused(msg)


async def emit(settings: WorkerSettings, event: ObjectEvent) -> tuple[int | None, int | None]:
    """Produce the event and wait for Kafka's acknowledgement; its partition and offset."""
    producer = Producer(settings.kafka, ack_timeout=30.0)
    await producer.start()
    try:
        delivery = await producer.send(settings.topics.objects, [(event.message_key.encode(), ENCODER.encode(event))])
        try:
            await delivery.wait(producer.ack_timeout)
        except NotDelivered as exc:
            msg = f"Kafka did not acknowledge the event: {exc}"
            raise Unavailable(msg) from exc
        metadata = next(iter(delivery.batches.values())).result()
    finally:
        await producer.stop()
    return getattr(metadata, "partition", None), getattr(metadata, "offset", None)

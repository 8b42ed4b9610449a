"""`release FILE --reason` and `decline FILE --reason`: an operator's decision on a HELD file.

A release is recorded first (HELD -> RELEASING, with who, when, why and what failed), then the file's object event
is handed to Kafka, not forced: the partition's worker takes it up, reads the object again pinned to its version,
checks its content hashes as it did when held, and publishes its rows once (its dead letters went out when it was
held). If Kafka does not take the event, the decision is undone and the file is HELD again (exit 3). A decline is
one ledger write: DECLINED, nothing of the file is published. Either is refused (exit 1) unless the file is HELD;
a release also unless S3 still holds the file's bytes.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import faust
from faust.cli import argument, option

from streamproc.adapters.decisions import Decision, Decisions
from streamproc.cli import views
from streamproc.cli.base import OperatorCommand
from streamproc.cli.errors import Refused, Unavailable
from streamproc.cli.params import S3_URL
from streamproc.cli.reprocess import check_still_in_s3, emit, release_event
from streamproc.cli.status import file_row
from streamproc.datasets.registry import Registry
from streamproc.ingest.ledger import HELD
from streamproc.worker.settings import WorkerSettings

_REASON = option("--reason", required=True, help="why (kept in the ledger and the receipt)")
_VERSION = option("--version", help="this version (S3 version id or ETag)  [default: the newest the ledger has]")


def operator(settings: WorkerSettings) -> str:
    """Who decides: STREAMPROC_OPERATOR, else the OS user."""
    return settings.operator or getpass.getuser()


async def held_file(settings: WorkerSettings, bucket: str, key: str, version: str | None, verb: str) -> dict[str, Any]:
    """The ledger row of the HELD version; NotFound or Refused (exit 1) otherwise, saying why."""
    row = await file_row(settings, bucket, key, version, verb)
    if row["status"] != HELD:
        decided = row.get("decision") or {}
        by = f" ({decided['action']}d by {decided['by']} at {decided['at']})" if decided.get("action") else ""
        msg = f"{views.s3_url(row)} is {row['status']}{by}, not HELD: there is nothing to {verb}"
        raise Refused(msg)
    return row


def decided(settings: WorkerSettings, action: str, row: dict[str, Any], reason: str) -> Decision:
    """The decision on a HELD file's row: who (STREAMPROC_OPERATOR or the OS user), now, why, what it failed."""
    return Decision(action=action, by=operator(settings), at=datetime.now(UTC), reason=reason,
                    failed=row["error_summary"] or "")  # fmt: skip


def register(app: faust.App, settings: WorkerSettings, registry: Registry) -> None:
    del registry  # any file of the ledger, whatever its dataset

    @app.command(argument("file", type=S3_URL), _REASON, _VERSION, base=OperatorCommand)
    async def release(self: OperatorCommand, file: tuple[str, str], reason: str, version: str | None) -> None:
        """Publish the rows of a HELD FILE (s3://bucket/key) once, as if it had passed its controls.

        Records the decision (who: STREAMPROC_OPERATOR or the OS user; when; REASON; what failed), then hands the
        file's event to Kafka. The worker re-reads the object pinned to its version and publishes it only if its
        content still hashes as it did when held. Refused (exit 1) unless the file is HELD and S3 holds its bytes.
        """
        row = await held_file(settings, *file, version, "release")
        event = release_event(row)
        await check_still_in_s3(settings, event)
        decision = decided(settings, "release", row, reason)
        async with Decisions(settings.database_url) as decisions:
            if not await decisions.release(row["id"], decision):
                msg = f"{views.s3_url(row)} was decided meanwhile: `status` shows it"
                raise Refused(msg)
            try:
                partition, offset = await emit(settings, event)
            except Unavailable as exc:
                await decisions.undo_release(row["id"], decision)
                msg = f"{exc}; nothing was released, {views.s3_url(row)} is HELD still"
                raise Unavailable(msg) from exc
        self.out(
            f"released {views.s3_url(row)} version {row['version']} (held: {row['error_summary']}) as "
            f"{decision.by}: its event is on {settings.topics.objects} [partition {partition}, offset {offset}]"
        )
        self.out(f"the worker publishes its rows once; follow it: python -m streamproc status {views.s3_url(row)}")

    @app.command(argument("file", type=S3_URL), _REASON, _VERSION, base=OperatorCommand)
    async def decline(self: OperatorCommand, file: tuple[str, str], reason: str, version: str | None) -> None:
        """Decline a HELD FILE (s3://bucket/key): none of its rows is ever published; it ends DECLINED.

        The decision (who: STREAMPROC_OPERATOR or the OS user; when; REASON; what failed) is kept in the ledger.
        Refused (exit 1) unless the file is HELD. To load it later, the sender uploads it again.
        """
        row = await held_file(settings, *file, version, "decline")
        decision = decided(settings, "decline", row, reason)
        async with Decisions(settings.database_url) as decisions:
            if not await decisions.decline(row["id"], decision):
                msg = f"{views.s3_url(row)} was decided meanwhile: `status` shows it"
                raise Refused(msg)
        self.out(f"declined {views.s3_url(row)} version {row['version']} as {decision.by}: nothing of it is published")

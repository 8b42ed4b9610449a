"""An object event made again from a file version's ledger row (pure): what `reprocess`, `release`, a manifest's
arrival and its timeout hand to the objects topic, with the original event time, size, ETag and version id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from streamproc.contract.events import ObjectEvent

REPROCESS: Final = "ObjectCreated:Reprocess"
RELEASE: Final = "ObjectCreated:Release"
MANIFEST: Final = "ObjectCreated:Manifest"  # its manifest arrived
MANIFEST_OVERDUE: Final = "ObjectCreated:ManifestOverdue"  # its manifest did not arrive in time


def event_of(row: Mapping[str, Any], name: str, *, forced: bool = False) -> ObjectEvent:
    """The object event of a ledger row; the ledger's version is the version id unless it is the ETag."""
    version, etag = row["version"], row["etag"]
    return ObjectEvent(
        bucket=row["bucket"],
        key=row["key"],
        size=row["size"],
        etag=etag,
        version_id=version if version and version != etag else None,
        event_name=name,
        event_time=row["event_time"] or row["received_at"],
        forced=forced,
    )

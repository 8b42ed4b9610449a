"""The worker's receipt writer: a receipt (streamproc.ingest.receipt) for every finished or decided file, written to
S3 beside the file under a prefix, and written again whenever the file finishes anew (a release, a reprocess).

The ledger is the outbox: a file is due while the receipt it has is not of its latest finish (`finished_at`).
Each receipt is issued in one ledger transaction that holds the file's row (other writers skip it), so a receipt
is never overwritten by an older one and the ledger says which finish each receipt is of.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from streamproc.ingest.ledger import Reject
from streamproc.ingest.receipt import encode, receipt_key, receipt_of
from streamproc.shared.errors import StreamprocError, TransientError
from streamproc.shared.retry import Backoff

logger = logging.getLogger(__name__)

Write = Callable[[Mapping[str, Any], Sequence[Reject]], Awaitable[None]]


class ReceiptLedger(Protocol):
    """The ledger's side (adapters.ledger_store.LedgerStore)."""

    async def issue_next(self, write: Write) -> bool:
        """Hold one due file's row, `write` its receipt, mark it issued; False if none is due."""
        ...


class ReceiptBucket(Protocol):
    """Where receipts go (adapters.s3.S3Reader.put)."""

    async def put(self, bucket: str, key: str, body: bytes) -> None: ...


@dataclass
class ReceiptStats:
    written: int = 0
    failed: int = 0  # refused for good (e.g. AccessDenied): logged, counted, not retried for that finish


class ReceiptWriter:
    """Issues due receipts until stopped; a service that is away is waited for, a refusal is counted and logged."""

    def __init__(
        self, ledger: ReceiptLedger, bucket: ReceiptBucket, prefix: str, *, poll: float = 1.0, backoff_cap: float = 30.0
    ) -> None:
        self.ledger, self.bucket, self.prefix, self.poll = ledger, bucket, prefix, poll
        self.stats = ReceiptStats()
        self._backoff_cap = backoff_cap

    async def run(self, stopping: asyncio.Event) -> None:
        backoff = Backoff(self.poll, self._backoff_cap)
        while not stopping.is_set():
            try:
                while not stopping.is_set() and await self.ledger.issue_next(self._write):
                    pass
                backoff = Backoff(self.poll, self._backoff_cap)
                delay = self.poll
            except TransientError as exc:
                delay = backoff.next()
                logger.warning("receipts: %s; trying again in %.1fs", exc, delay)
            except Exception:  # a bug must not end the receipts for the worker's lifetime
                delay = backoff.next()
                logger.exception("receipts: failed unexpectedly; trying again in %.1fs", delay)
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                continue

    async def _write(self, row: Mapping[str, Any], rejects: Sequence[Reject]) -> None:
        receipt = receipt_of(row, rejects, datetime.now(UTC))
        key = receipt_key(row["key"], self.prefix)
        refused: StreamprocError | None = None
        try:
            await self.bucket.put(row["bucket"], key, encode(receipt))
        except TransientError:
            raise
        except StreamprocError as exc:  # refused: say so once for this finish, and go on with the others
            refused = exc
        if refused is None:
            self.stats.written += 1
            return
        self.stats.failed += 1
        logger.error("receipt of ledger file %d not written to bucket %s: %s", row["id"], row["bucket"], refused)

"""The receipt writer over fakes: every due file's receipt written under the prefix, a service that is away waited
for (the file stays due), a refusal counted and logged without the row's values, and nothing lost at stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from streamproc.ingest.receipt import RECEIPT_DECODER
from streamproc.ingest.receipts import ReceiptWriter, Write
from streamproc.shared.errors import TerminalError, TransientError
from tests.unit.fakes import until


def _row(n: int) -> dict[str, Any]:
    return {
        "id": n, "bucket": "drop", "key": f"claims/{n}.csv", "version": "v", "dataset": "pharmacy_claims",
        "status": "COMPLETED", "rows_read": 5, "rows_valid": 5, "rows_rejected": 0, "rows_sink_rejected": 0,
        "rows_loaded": 5,
    }  # fmt: skip


class _Ledger:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.due = rows

    async def issue_next(self, write: Write) -> bool:
        if not self.due:
            return False
        await write(self.due[0], [])  # raises: the row stays due (the transaction rolls back)
        self.due.pop(0)
        return True


class _Bucket:
    def __init__(self, failures: Sequence[Exception] = ()) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.failures = list(failures)

    async def put(self, bucket: str, key: str, body: bytes) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.objects[(bucket, key)] = body


class _Away(TransientError):
    pass


class _Denied(TerminalError):
    pass


async def _run(writer: ReceiptWriter, ledger: _Ledger) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(writer.run(stopping))
    await until(lambda: not ledger.due)
    stopping.set()
    await task


async def test_every_due_receipt_is_written_under_the_prefix_and_a_service_away_is_waited_for() -> None:
    ledger, bucket = _Ledger([_row(1), _row(2)]), _Bucket([_Away("S3 unavailable: SlowDown")])
    writer = ReceiptWriter(ledger, bucket, "receipts/", poll=0.01, backoff_cap=0.02)
    await _run(writer, ledger)
    assert sorted(bucket.objects) == [("drop", "receipts/claims/1.csv.json"), ("drop", "receipts/claims/2.csv.json")]
    receipt = RECEIPT_DECODER.decode(bucket.objects[("drop", "receipts/claims/1.csv.json")])
    assert (receipt.key, receipt.status, receipt.rows_loaded) == ("claims/1.csv", "COMPLETED", 5)
    assert (writer.stats.written, writer.stats.failed) == (2, 0)


async def test_a_refused_receipt_is_counted_and_logged_and_the_others_are_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger, bucket = _Ledger([_row(1), _row(2)]), _Bucket([_Denied("S3 refused the write: AccessDenied")])
    writer = ReceiptWriter(ledger, bucket, "receipts/", poll=0.01)
    await _run(writer, ledger)
    assert list(bucket.objects) == [("drop", "receipts/claims/2.csv.json")]
    assert (writer.stats.written, writer.stats.failed) == (1, 1)
    assert "receipt of ledger file 1 not written to bucket drop: S3 refused the write: AccessDenied" in caplog.text
    assert "claims/1.csv" not in caplog.text  # a key is the sender's text: the ledger id says which file

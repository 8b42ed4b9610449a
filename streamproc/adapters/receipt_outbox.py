"""The ledger as the receipts' outbox (streamproc.ingest.receipts): which receipt is due, issued one at a time."""

from __future__ import annotations

from psycopg.rows import dict_row

from streamproc.adapters.postgres import Database
from streamproc.contract.events import FieldError
from streamproc.ingest.ledger import MAX_REJECTS_PER_FILE, Reject
from streamproc.ingest.receipts import Write

# A finished, declined or HELD file whose latest receipt is not of its latest finish; held by this transaction (the
# finish that would change it waits, another writer skips it).
_DUE = """
SELECT * FROM ingest_files
WHERE status IN ('HELD', 'COMPLETED', 'PARTIAL', 'FAILED', 'SUPERSEDED', 'DECLINED')
  AND receipt_for IS DISTINCT FROM finished_at
ORDER BY finished_at LIMIT 1 FOR UPDATE SKIP LOCKED
"""
_REJECTS = "SELECT line, stage, error_class, errors FROM ingest_file_rejects WHERE file_id = %s ORDER BY line LIMIT %s"


class ReceiptOutbox:
    """ingest.receipts.ReceiptLedger over the worker's pool."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue_next(self, write: Write) -> bool:
        async with self.db.transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = await (await cur.execute(_DUE)).fetchone()
            if row is None:
                return False
            kept = await (await conn.execute(_REJECTS, (row["id"], MAX_REJECTS_PER_FILE))).fetchall()
            rejects = [_reject(*r) for r in kept]
            await write(row, rejects)
            await conn.execute("UPDATE ingest_files SET receipt_for = finished_at WHERE id = %s", (row["id"],))
        return True


def _reject(line: int, stage: str, error_class: str, errors: list[dict[str, str]]) -> Reject:
    broken = tuple(FieldError(field=e["field"], rule=e["rule"], message=e["message"]) for e in errors)
    return Reject(line=line, stage=stage, error_class=error_class, errors=broken)

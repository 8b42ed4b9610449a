"""An operator's decisions in the file ledger: release or decline a HELD file, hold or lift a sender's files.

Each write is one transaction that checks the state it starts from, so deciding twice (or two operators at once) is
refused by the database, never applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from streamproc.adapters.postgres import Database

_RELEASE = """
UPDATE ingest_files SET status = 'RELEASING', decision = %s, judged_at = now(), error_summary = NULL, updated_at = now()
WHERE id = %s AND status = 'HELD' AND content_sha256 IS NOT NULL
"""
_UNDO_RELEASE = """
UPDATE ingest_files SET status = 'HELD', decision = NULL, judged_at = NULL, error_summary = %s, updated_at = now()
WHERE id = %s AND status = 'RELEASING' AND decision->>'at' = %s
"""
_DECLINE = """
UPDATE ingest_files SET status = 'DECLINED', decision = %s, finished_at = now(), updated_at = now()
WHERE id = %s AND status = 'HELD'
"""
_IN_FORCE = """
SELECT 1 FROM ingest_sender_holds
WHERE lifted_at IS NULL AND prefix IS NOT DISTINCT FROM %s AND dataset IS NOT DISTINCT FROM %s
"""
_LIFT = """
UPDATE ingest_sender_holds SET lifted_by = %s, lifted_at = now()
WHERE lifted_at IS NULL AND prefix IS NOT DISTINCT FROM %s AND dataset IS NOT DISTINCT FROM %s
"""
_NEW_HOLD = "INSERT INTO ingest_sender_holds (prefix, dataset, reason, held_by) VALUES (%s, %s, %s, %s) RETURNING id"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What an operator decided on a HELD file, by whom, when and why; `failed` is the file's reason at that time."""

    action: str  # "release" or "decline"
    by: str
    at: datetime
    reason: str
    failed: str

    def as_json(self) -> dict[str, str]:
        return {"action": self.action, "by": self.by, "at": self.at.isoformat(), "reason": self.reason,
                "failed": self.failed}  # fmt: skip


class Decisions:
    """The operator's writes to the ledger (own small pool, like the LedgerReader)."""

    def __init__(self, url: str) -> None:
        self._db = Database(url, max_size=1, min_size=0, timeout=5.0)

    async def __aenter__(self) -> Decisions:
        await self._db.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._db.stop()

    async def release(self, file_id: int, decision: Decision) -> bool:
        """HELD -> RELEASING with the decision; False if the file is no longer HELD (decided meanwhile)."""
        return await self._update(_RELEASE, (Jsonb(decision.as_json()), file_id))

    async def undo_release(self, file_id: int, decision: Decision) -> bool:
        """RELEASING -> HELD again, when the release's event could not be handed to Kafka (its reason kept)."""
        return await self._update(_UNDO_RELEASE, (decision.failed, file_id, decision.at.isoformat()))

    async def decline(self, file_id: int, decision: Decision) -> bool:
        """HELD -> DECLINED with the decision; False if the file is no longer HELD."""
        return await self._update(_DECLINE, (Jsonb(decision.as_json()), file_id))

    async def hold(self, prefix: str | None, dataset: str | None, reason: str, by: str) -> int | None:
        """A new sender hold; None if the same one is already in force."""
        async with self._db.transaction() as conn:
            await conn.execute("LOCK TABLE ingest_sender_holds IN SHARE ROW EXCLUSIVE MODE")
            if await (await conn.execute(_IN_FORCE, (prefix, dataset))).fetchone():
                return None
            row = await (await conn.execute(_NEW_HOLD, (prefix, dataset, reason, by))).fetchone()
            return int(row[0]) if row else None

    async def lift(self, prefix: str | None, dataset: str | None, by: str) -> int:
        """Lift the hold in force on exactly this prefix and dataset; how many were lifted (0 or 1)."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(_LIFT, (by, prefix, dataset))
            return cur.rowcount

    async def holds(self) -> list[dict[str, Any]]:
        """The sender holds in force, oldest first."""
        async with self._db.transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT id, prefix, dataset, reason, held_by, held_at FROM ingest_sender_holds "
                "WHERE lifted_at IS NULL ORDER BY id"
            )
            return await cur.fetchall()

    async def _update(self, statement: str, params: tuple[Any, ...]) -> bool:
        async with self._db.transaction() as conn:
            cur = await conn.execute(statement, params)
            return cur.rowcount == 1

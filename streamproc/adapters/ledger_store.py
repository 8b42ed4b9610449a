"""The file ledger in PostgreSQL: claims of object versions, split counts, failures, reject reasons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from streamproc.adapters.postgres import Database, one
from streamproc.contract.events import FieldError, ObjectEvent
from streamproc.ingest.ledger import FAILED, PROCESSING, Checkpoint, Claim, Reject, SplitCounts, claim_verdict

FINISH = """
UPDATE ingest_files SET
    status = CASE WHEN rows_dead_lettered = 0 THEN 'COMPLETED' ELSE 'PARTIAL' END,
    finished_at = now(), updated_at = now()
WHERE id = ANY(%s) AND split_done AND status = 'PROCESSING'
  AND rows_loaded + rows_dead_lettered >= rows_read
"""


_NEW_FILE = """
INSERT INTO ingest_files (bucket, key, version, status, size, etag, event_time)
VALUES (%s, %s, %s, 'RECEIVED', %s, %s, %s) ON CONFLICT (bucket, key, version) DO NOTHING
"""
_LOCK_FILE = """
SELECT id, status, split_done, attempts, claimed_by,
       coalesce(heartbeat_at > now() - make_interval(secs => %s), false) AS live, resume
FROM ingest_files WHERE bucket = %s AND key = %s AND version = %s FOR UPDATE
"""
_DUPLICATE = "UPDATE ingest_files SET duplicate_events = duplicate_events + 1, last_duplicate_at = now() WHERE id = %s"
_TAKE = """
UPDATE ingest_files SET status = 'PROCESSING', split_done = false, error_summary = NULL,
    attempts = attempts + 1, started_at = now(), finished_at = NULL, updated_at = now(),
    claimed_by = %s, heartbeat_at = now(),
    size = coalesce(%s, size), etag = coalesce(%s, etag), event_time = coalesce(event_time, %s), resume = %s
WHERE id = %s
"""
CHECKPOINT = msgspec.json.Decoder(Checkpoint)


class LedgerStore:
    """The fan-out's side of the ledger (ports.FileLedger); every method is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, event: ObjectEvent, owner: str, lease: float) -> Claim:
        """The version's ledger row (created RECEIVED if new), and whether this event is split, skipped or waits.

        A duplicate (see `ledger.claim_verdict`) only bumps `duplicate_events`: status and times stay. A split
        left half-done is resumed from its checkpoint by its own worker at once (a restart), by another once
        the holder's heartbeat is older than `lease`; until then the claim says wait.
        """
        async with self.db.transaction() as conn:
            await conn.execute(
                _NEW_FILE, (event.bucket, event.key, event.version, event.size, event.etag, event.event_time)
            )
            row = await one(await conn.execute(_LOCK_FILE, (lease, event.bucket, event.key, event.version)))
            file_id, status, split_done, attempts, holder, live, resume = row
            skipped = claim_verdict(status, split_done, forced=event.forced)
            if skipped is not None:
                await conn.execute(_DUPLICATE, (file_id,))
                return Claim(file_id=file_id, attempt=attempts, skipped=skipped)
            interrupted = status == PROCESSING and not event.forced
            if interrupted and live and holder not in (None, owner):
                return Claim(file_id=file_id, attempt=attempts, wait=min(lease, 2.0))
            checkpoint = CHECKPOINT.decode(json.dumps(resume)) if interrupted and resume else None
            await conn.execute(
                _TAKE,
                (
                    owner,
                    event.size,
                    event.etag,
                    event.event_time,
                    None if checkpoint is None else Jsonb(resume),
                    file_id,
                ),
            )
        return Claim(file_id=file_id, attempt=attempts + 1, resume=checkpoint)

    async def checkpoint(self, file_id: int, owner: str, at: Checkpoint) -> None:
        """Record how far the split got (and that its worker lives), if `owner` still holds the claim."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE ingest_files SET resume = %s, heartbeat_at = now() WHERE id = %s AND claimed_by = %s",
                (Jsonb(msgspec.to_builtins(at)), file_id, owner),
            )

    async def heartbeat(self, file_id: int, owner: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE ingest_files SET heartbeat_at = now() WHERE id = %s AND claimed_by = %s", (file_id, owner)
            )

    async def release(self, file_id: int, owner: str) -> None:
        """Give the claim up (a clean stop mid-file): the next worker to get the event resumes at once."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE ingest_files SET claimed_by = NULL, heartbeat_at = NULL WHERE id = %s AND claimed_by = %s",
                (file_id, owner),
            )

    async def record_rejects(self, file_id: int, rejects: Sequence[Reject]) -> None:
        """Keep why rows were dead-lettered (line, stage, rules; never values); a line is kept once."""
        if not rejects:
            return
        async with self.db.transaction() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO ingest_file_rejects (file_id, line, stage, error_class, errors) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(file_id, r.line, r.stage, r.error_class, Jsonb(reject_errors(r.errors))) for r in rejects],
            )

    async def finish_split(self, file_id: int, counts: SplitCounts) -> str:
        """Record the fan-out's counts; the file finishes now if the sinks already loaded every row."""
        async with self.db.transaction() as conn:
            await conn.execute(
                """
                UPDATE ingest_files SET dataset = %s, rows_read = %s, rows_valid = %s, rows_rejected = %s,
                    unknown_columns = %s, split_done = true, updated_at = now(),
                    claimed_by = NULL, heartbeat_at = NULL, resume = NULL
                WHERE id = %s
                """,
                (
                    counts.dataset,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    file_id,
                ),
            )
            await conn.execute(FINISH, ([file_id],))
            return await _status(conn, file_id)

    async def fail_file(self, file_id: int, reason: str, counts: SplitCounts, status: str = FAILED) -> None:
        """End the file unloaded: FAILED (why in `reason`), or SUPERSEDED when its version's bytes are gone."""
        async with self.db.transaction() as conn:
            await conn.execute(
                """
                UPDATE ingest_files SET status = %s, dataset = coalesce(%s, dataset), error_summary = %s,
                    rows_read = %s, rows_valid = %s, rows_rejected = %s, unknown_columns = %s,
                    split_done = true, finished_at = now(), updated_at = now(),
                    claimed_by = NULL, heartbeat_at = NULL, resume = NULL
                WHERE id = %s
                """,
                (
                    status,
                    counts.dataset,
                    reason,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    file_id,
                ),
            )

    async def files(self, limit: int = 100, bucket: str | None = None) -> list[dict[str, Any]]:
        """Newest ledger rows first (what the stats page and the CLI show)."""
        async with self.db.transaction() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM ingest_files WHERE %(bucket)s::text IS NULL OR bucket = %(bucket)s "
                "ORDER BY received_at DESC, id DESC LIMIT %(limit)s",
                {"bucket": bucket, "limit": limit},
            )
            return await cur.fetchall()

    # -- sinks -----------------------------------------------------------------------------


async def _status(conn: psycopg.AsyncConnection[Any], file_id: int) -> str:
    row = await (await conn.execute("SELECT status FROM ingest_files WHERE id = %s", (file_id,))).fetchone()
    return str(row[0]) if row else "MISSING"


def reject_errors(errors: Sequence[FieldError]) -> list[dict[str, str]]:
    """Broken rules as the ledger keeps them: field, rule, message (messages never quote a value)."""
    return [{"field": e.field, "rule": e.rule, "message": e.message} for e in errors]

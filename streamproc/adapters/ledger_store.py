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
from streamproc.ingest.ledger import (
    FAILED,
    HELD,
    PROCESSING,
    Checkpoint,
    Claim,
    ClaimLost,
    Fence,
    Held,
    Judgement,
    Reject,
    SenderHold,
    SplitCounts,
    claim_verdict,
)

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
       coalesce(heartbeat_at > now() - make_interval(secs => %s), false) AS live, resume,
       CASE WHEN judged_at IS NOT NULL THEN content_sha256 END AS judged,
       coalesce(decision->>'action' = 'release' AND status IN ('RELEASING', 'PROCESSING'), false) AS letters_out,
       extract(epoch FROM now() - received_at)::float8 AS waited
FROM ingest_files WHERE bucket = %s AND key = %s AND version = %s FOR UPDATE
"""
_SENDER_HOLDS = """
SELECT id, prefix, dataset, reason, held_by, held_at FROM ingest_sender_holds
WHERE lifted_at IS NULL AND (prefix IS NULL OR starts_with(%s, prefix)) ORDER BY id
"""
# A file loaded before with the same content, for the duplicate check (under a lock on that content, so two workers
# judging two copies at once see each other); a failed, superseded, declined or held one does not count.
_SAME_CONTENT = """
SELECT bucket, key FROM ingest_files
WHERE dataset = %s AND content_sha256 = %s AND id <> %s AND judged_at IS NOT NULL
  AND status NOT IN ('FAILED', 'SUPERSEDED', 'DECLINED', 'HELD')
ORDER BY judged_at, id LIMIT 1
"""
_DUPLICATE = "UPDATE ingest_files SET duplicate_events = duplicate_events + 1, last_duplicate_at = now() WHERE id = %s"
_TAKE = """
UPDATE ingest_files SET status = 'PROCESSING', split_done = false, error_summary = NULL,
    attempts = attempts + 1, started_at = now(), finished_at = NULL, updated_at = now(),
    claimed_by = %s, heartbeat_at = now(),
    size = coalesce(%s, size), etag = coalesce(%s, etag), event_time = coalesce(event_time, %s), resume = %s,
    claim_epoch = claim_epoch + 1
WHERE id = %s RETURNING claim_epoch
"""
# A split's writes hold only while its claim does: the file's epoch is still the claim's (see ledger.Fence).
_CHECKPOINT = """
UPDATE ingest_files SET resume = %s, heartbeat_at = now()
WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done
"""
_HEARTBEAT = """
UPDATE ingest_files SET heartbeat_at = now()
WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done
"""
_RELEASE = """
UPDATE ingest_files SET claimed_by = NULL, heartbeat_at = NULL
WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done
"""
_HOLDS = """
SELECT 1 FROM ingest_files
WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done FOR SHARE
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
            file_id, status, split_done, attempts, holder, live, resume, judged, letters_out, waited = row
            skipped = claim_verdict(status, split_done, forced=event.forced)
            if skipped is not None:
                await conn.execute(_DUPLICATE, (file_id,))
                return Claim(file_id=file_id, attempt=attempts, skipped=skipped)
            interrupted = status == PROCESSING and not event.forced
            if interrupted and live and holder not in (None, owner):
                return Claim(file_id=file_id, attempt=attempts, wait=min(lease, 2.0))
            checkpoint = CHECKPOINT.decode(json.dumps(resume)) if interrupted and resume else None
            taken = await conn.execute(
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
            (epoch,) = await one(taken)
            holds = () if judged else await _sender_holds(conn, event.key)
        return Claim(
            file_id=file_id, attempt=attempts + 1, resume=checkpoint, epoch=epoch, judged=judged,
            letters_out=letters_out, holds=holds, waited=waited,
        )  # fmt: skip

    async def judge(self, fence: Fence, verdict: Judgement) -> str | None:
        """The verdict on a file's content, taken before anything of it is published: with `duplicates`, the file
        loaded before with this content (s3://bucket/key), if any; else, if it `passes`, its hash and warnings are
        recorded as judged (a later pass of this version publishes without a new verdict; a copy is a duplicate)."""
        dataset, sha256 = verdict.dataset, verdict.sha256
        async with self.db.transaction() as conn:
            if verdict.duplicates:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{dataset}:{sha256}",))
                same = await (await conn.execute(_SAME_CONTENT, (dataset, sha256, fence.file_id))).fetchone()
                if same is not None:
                    return f"s3://{same[0]}/{same[1]}"
            if verdict.passes:
                cur = await conn.execute(
                    "UPDATE ingest_files SET content_sha256 = %s, judged_at = now(), controls = %s "
                    "WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done",
                    (sha256, Jsonb(list(verdict.warnings)) if verdict.warnings else None, *fence),
                )
                _held(cur, fence)
        return None

    async def checkpoint(self, fence: Fence, at: Checkpoint) -> None:
        """Record how far the split got (and that its worker lives), while the fence's claim holds."""
        async with self.db.transaction() as conn:
            _held(await conn.execute(_CHECKPOINT, (Jsonb(msgspec.to_builtins(at)), *fence)), fence)

    async def heartbeat(self, fence: Fence) -> None:
        async with self.db.transaction() as conn:
            _held(await conn.execute(_HEARTBEAT, (*fence,)), fence)

    async def release(self, fence: Fence) -> None:
        """Give the claim up (a clean stop mid-file): the next worker to get the event resumes at once."""
        async with self.db.transaction() as conn:
            await conn.execute(_RELEASE, (*fence,))

    async def record_rejects(self, fence: Fence, rejects: Sequence[Reject]) -> None:
        """Keep why rows were dead-lettered (line, stage, rules; never values); a line is kept once."""
        if not rejects:
            return
        file_id = fence.file_id
        async with self.db.transaction() as conn, conn.cursor() as cur:
            _held(await cur.execute(_HOLDS, (*fence,)), fence)
            await cur.executemany(
                "INSERT INTO ingest_file_rejects (file_id, line, stage, error_class, errors) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(file_id, r.line, r.stage, r.error_class, Jsonb(reject_errors(r.errors))) for r in rejects],
            )

    async def finish_split(self, fence: Fence, counts: SplitCounts) -> str:
        """Record the fan-out's counts; the file finishes now if the sinks already loaded every row."""
        file_id = fence.file_id
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """
                UPDATE ingest_files SET dataset = %s, rows_read = %s, rows_valid = %s, rows_rejected = %s,
                    unknown_columns = %s, split_done = true, updated_at = now(),
                    claimed_by = NULL, heartbeat_at = NULL, resume = NULL
                WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done
                """,
                (
                    counts.dataset,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    *fence,
                ),
            )
            _held(cur, fence)
            await conn.execute(FINISH, ([file_id],))
            return await _status(conn, file_id)

    async def fail_file(self, fence: Fence, reason: str, counts: SplitCounts, status: str = FAILED) -> None:
        """End the file unloaded: FAILED (why in `reason`), or SUPERSEDED when its version's bytes are gone."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """
                UPDATE ingest_files SET status = %s, dataset = coalesce(%s, dataset), error_summary = %s,
                    rows_read = %s, rows_valid = %s, rows_rejected = %s, unknown_columns = %s,
                    split_done = true, finished_at = now(), updated_at = now(),
                    claimed_by = NULL, heartbeat_at = NULL, resume = NULL
                WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done
                """,
                (
                    status,
                    counts.dataset,
                    reason,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    *fence,
                ),
            )
            _held(cur, fence)

    async def hold_file(self, fence: Fence, held: Held, counts: SplitCounts, status: str = HELD) -> None:
        """End the split HELD (nothing of the file published but its dead letters; the failed controls kept), or
        AWAITING_MANIFEST (nothing published)."""
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                """
                UPDATE ingest_files SET status = %s, dataset = coalesce(%s, dataset), error_summary = %s,
                    controls = %s, content_sha256 = %s, decision = NULL, judged_at = NULL,
                    rows_read = %s, rows_valid = %s, rows_rejected = %s, unknown_columns = %s,
                    split_done = true, finished_at = now(), updated_at = now(),
                    claimed_by = NULL, heartbeat_at = NULL, resume = NULL
                WHERE id = %s AND claim_epoch = %s AND status = 'PROCESSING' AND NOT split_done
                """,
                (
                    status,
                    counts.dataset,
                    held.reason,
                    Jsonb(list(held.findings)),
                    held.sha256,
                    counts.rows_read,
                    counts.rows_valid,
                    counts.rows_rejected,
                    counts.unknown_columns,
                    *fence,
                ),
            )
            _held(cur, fence)

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


async def _sender_holds(conn: psycopg.AsyncConnection[Any], key: str) -> tuple[SenderHold, ...]:
    rows = await (await conn.execute(_SENDER_HOLDS, (key,))).fetchall()
    return tuple(SenderHold(hold_id=i, prefix=p, dataset=d, reason=r, by=b, at=a) for i, p, d, r, b, a in rows)


def _held(cur: psycopg.AsyncCursor[Any], fence: Fence) -> None:
    """Raise ClaimLost unless the fenced statement found the file still under this claim."""
    if cur.rowcount < 1:
        msg = f"file {fence.file_id}: claim epoch {fence.epoch} was taken over by another worker"
        raise ClaimLost(msg)


async def _status(conn: psycopg.AsyncConnection[Any], file_id: int) -> str:
    row = await (await conn.execute("SELECT status FROM ingest_files WHERE id = %s", (file_id,))).fetchone()
    return str(row[0]) if row else "MISSING"


def reject_errors(errors: Sequence[FieldError]) -> list[dict[str, str]]:
    """Broken rules as the ledger keeps them: field, rule, message (messages never quote a value)."""
    return [{"field": e.field, "rule": e.rule, "message": e.message} for e in errors]

-- Receipts (streamproc/ingest/receipts.py): `receipt_for` is the finish (finished_at) the file's latest receipt in S3
-- is of; a finished, declined or HELD file whose receipt_for differs is due. Files finished before this migration
-- get none (their receipt_for is set to their finish).
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS receipt_for timestamptz;
UPDATE ingest_files SET receipt_for = finished_at WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS ingest_files_receipts_due_idx ON ingest_files (finished_at)
    WHERE status IN ('HELD', 'COMPLETED', 'PARTIAL', 'FAILED', 'SUPERSEDED', 'DECLINED')
      AND receipt_for IS DISTINCT FROM finished_at;

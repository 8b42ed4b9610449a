-- HELD: the file failed a control its dataset declares (streamproc/datasets/controls.py); none of its rows was
-- published, its dead letters were. `controls` keeps each failed control with what it expected and what the file
-- holds (counts and totals, never a row's value); `content_sha256` the SHA-256 of its decompressed content.
ALTER TABLE ingest_files DROP CONSTRAINT IF EXISTS ingest_files_status_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_status_check
    CHECK (status IN ('RECEIVED', 'PROCESSING', 'HELD', 'COMPLETED', 'PARTIAL', 'FAILED', 'SUPERSEDED'));
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS controls jsonb;
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS content_sha256 text;

-- Decisions on HELD files, sender holds and duplicate content (streamproc/datasets/controls.py, README "Controls").
-- RELEASING: an operator released the file, its worker has yet to publish it; DECLINED: nothing of it is published.
ALTER TABLE ingest_files DROP CONSTRAINT IF EXISTS ingest_files_status_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_status_check
    CHECK (status IN ('RECEIVED', 'PROCESSING', 'HELD', 'RELEASING', 'COMPLETED', 'PARTIAL', 'FAILED', 'SUPERSEDED',
                      'DECLINED'));
-- The operator's decision: {"action": "release"|"decline", "by", "at", "reason", "controls"} (what it decided on).
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS decision jsonb;
-- When the file's content passed its verdict or was released (content_sha256 is then that content's hash): a
-- verdict is taken once per version, before anything of it is published.
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS judged_at timestamptz;
CREATE INDEX IF NOT EXISTS ingest_files_content_idx ON ingest_files (dataset, content_sha256)
    WHERE content_sha256 IS NOT NULL;

-- Sender holds: every new file under `prefix` (or of `dataset`) is HELD until the hold is lifted.
CREATE TABLE IF NOT EXISTS ingest_sender_holds (
    id          bigserial PRIMARY KEY,
    prefix      text,
    dataset     text,
    reason      text NOT NULL,
    held_by     text NOT NULL,
    held_at     timestamptz NOT NULL DEFAULT now(),
    lifted_by   text,
    lifted_at   timestamptz,
    CHECK (prefix IS NOT NULL OR dataset IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS ingest_sender_holds_active_idx ON ingest_sender_holds (id) WHERE lifted_at IS NULL;

-- SUPERSEDED: the key was overwritten (unversioned bucket) before the notified version's bytes were read; that
-- version is gone, and the newer version's own notification loads the key (see streamproc/ingest/ledger.py).
ALTER TABLE ingest_files DROP CONSTRAINT IF EXISTS ingest_files_status_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_status_check
    CHECK (status IN ('RECEIVED', 'PROCESSING', 'COMPLETED', 'PARTIAL', 'FAILED', 'SUPERSEDED'));

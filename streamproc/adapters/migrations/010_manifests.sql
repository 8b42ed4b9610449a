-- Manifests (`<key>.manifest.json`, streamproc/datasets/declared.py). AWAITING_MANIFEST: a file whose dataset
-- requires a manifest that has not come yet; the manifest's arrival or its timeout takes it up again.
ALTER TABLE ingest_files DROP CONSTRAINT IF EXISTS ingest_files_status_check;
ALTER TABLE ingest_files ADD CONSTRAINT ingest_files_status_check
    CHECK (status IN ('RECEIVED', 'PROCESSING', 'AWAITING_MANIFEST', 'HELD', 'RELEASING', 'COMPLETED', 'PARTIAL',
                      'FAILED', 'SUPERSEDED', 'DECLINED'));
CREATE TABLE IF NOT EXISTS ingest_manifests (
    id            bigserial PRIMARY KEY,
    bucket        text NOT NULL,
    manifest_key  text NOT NULL,
    data_key      text NOT NULL,
    etag          text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL DEFAULT now(),
    reported_at   timestamptz,  -- when it was reported as orphaned: its data file never came
    UNIQUE (bucket, manifest_key, etag)
);
CREATE INDEX IF NOT EXISTS ingest_files_awaiting_idx ON ingest_files (received_at) WHERE status = 'AWAITING_MANIFEST';
CREATE INDEX IF NOT EXISTS ingest_manifests_unreported_idx ON ingest_manifests (received_at) WHERE reported_at IS NULL;

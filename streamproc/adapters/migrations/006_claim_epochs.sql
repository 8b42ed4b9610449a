-- Fencing: every claim of a file version bumps claim_epoch, and every ledger write of a split names the epoch it
-- holds; a worker whose claim was taken over (paused past its lease) writes nothing more (see ingest/ledger.py Fence).
ALTER TABLE ingest_files ADD COLUMN IF NOT EXISTS claim_epoch bigint NOT NULL DEFAULT 0;

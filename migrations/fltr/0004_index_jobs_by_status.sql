-- pgstack:no-transaction
-- Built concurrently so a busy queue table is never locked for writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS processing_jobs_status_queued_at_idx
    ON processing_jobs (status, queued_at);

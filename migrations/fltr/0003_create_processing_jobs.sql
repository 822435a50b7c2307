-- Processing jobs: one row per extraction/embedding run over a document.
CREATE TYPE job_status AS ENUM ('queued', 'running', 'succeeded', 'failed');

CREATE TABLE processing_jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id  bigint      NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    status       job_status  NOT NULL DEFAULT 'queued',
    attempts     integer     NOT NULL DEFAULT 0,
    error        text,
    queued_at    timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz
);

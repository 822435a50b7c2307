-- Documents belong to a dataset; deleting a dataset deletes its documents.
CREATE TABLE documents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id  bigint      NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    filename    text        NOT NULL,
    mime_type   text        NOT NULL DEFAULT 'application/octet-stream',
    size_bytes  bigint      NOT NULL CHECK (size_bytes >= 0),
    sha256      char(64)    NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX documents_dataset_id_idx ON documents (dataset_id);

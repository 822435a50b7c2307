-- Datasets: a named collection of uploaded documents.
CREATE TABLE datasets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    description text,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT datasets_name_not_blank CHECK (btrim(name) <> '')
);

CREATE UNIQUE INDEX datasets_created_by_name_key ON datasets (created_by, name);

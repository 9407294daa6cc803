-- Per-feed dataset versions: bumped by every committed change to the prices a feed serves.
CREATE TABLE dataset_versions (
    feed TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

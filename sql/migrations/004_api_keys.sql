-- API keys: only the SHA-256 hash of a key is stored, with a name and a role.
CREATE TABLE api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL CHECK (name <> ''),
    key_hash TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    role TEXT NOT NULL CHECK (role IN ('admin', 'ingest', 'read')),
    active BOOLEAN NOT NULL DEFAULT true,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE active;

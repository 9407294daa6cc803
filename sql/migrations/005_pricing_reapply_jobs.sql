-- The reapply-pricing job (SPEC §3): the plan's two tables with every column the plan names, plus
-- what durable, resumable, revertible, single-flight jobs need. The job row is the queue.

CREATE TABLE pricing_reapply_jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    kind TEXT NOT NULL DEFAULT 'reapply' CHECK (kind IN ('reapply', 'revert')),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'reverted')),
    -- A revert job points at the job it reverts; the reverted job points back once a revert exists.
    reverts_job_id UUID REFERENCES pricing_reapply_jobs (id),
    reverted_by_job_id UUID REFERENCES pricing_reapply_jobs (id),
    -- {"feeds": [...] | null, "stone_types": [...] | null}; null lists mean "all".
    scope JSONB NOT NULL DEFAULT '{}',
    -- {"rules": [...], "base_margins": {...}} frozen when the job is created (reapply jobs only).
    rules_snapshot JSONB,
    total_diamonds INTEGER NOT NULL DEFAULT 0,
    processed_diamonds INTEGER NOT NULL DEFAULT 0,
    updated_diamonds INTEGER NOT NULL DEFAULT 0,
    -- Diamonds whose price could not be stored (ratio or price out of range): left unchanged.
    failed_diamonds INTEGER NOT NULL DEFAULT 0,
    -- Revert jobs: diamonds left alone because they changed after the reverted job.
    skipped_diamonds INTEGER NOT NULL DEFAULT 0,
    feeds_affected TEXT[] NOT NULL DEFAULT '{}',
    error TEXT,
    trigger_type TEXT NOT NULL DEFAULT 'manual'
        CHECK (trigger_type IN ('manual', 'rule_create', 'rule_update', 'rule_delete', 'revert')),
    triggered_by TEXT,
    triggered_by_rule_id UUID REFERENCES pricing_rules (id) ON DELETE SET NULL,
    allow_below_cost BOOLEAN NOT NULL DEFAULT false,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    -- How many times a runner has claimed the job (1 for an uninterrupted run).
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    heartbeat_at TIMESTAMPTZ,
    snapshots_pruned_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    reverted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pricing_reapply_jobs_revert_target CHECK ((kind = 'revert') = (reverts_job_id IS NOT NULL))
);

-- Single flight, enforced by the database: at most one active job of any kind.
CREATE UNIQUE INDEX pricing_reapply_jobs_one_active
    ON pricing_reapply_jobs ((true)) WHERE status IN ('pending', 'running');

-- History, newest first, keyset-paginated.
CREATE INDEX pricing_reapply_jobs_history ON pricing_reapply_jobs (created_at DESC, id DESC);

-- The cursor state: a job's id space split into disjoint ranges, each with its own keyset cursor,
-- so several sessions can work one job (each claims a range per batch, FOR UPDATE SKIP LOCKED).
-- Each batch advances its range's cursor in the same transaction as the diamonds it wrote.
CREATE TABLE pricing_reapply_job_ranges (
    job_id UUID NOT NULL REFERENCES pricing_reapply_jobs (id) ON DELETE CASCADE,
    range_no INTEGER NOT NULL,
    lo UUID NOT NULL,            -- inclusive
    hi UUID NOT NULL,            -- inclusive
    cursor UUID,                 -- last id done; null before the first batch
    done BOOLEAN NOT NULL DEFAULT false,
    processed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, range_no)
);

-- Per-diamond old/new values (the plan's columns) plus the cost the job priced from and the rule
-- that won. A revert job writes rows here too: what it restored, and what it skipped as stale.
-- The plan's index on (job_id) is not created: the primary key (job_id, diamond_id) already
-- serves every lookup by job_id as its prefix, and a second index would cost every insert.
-- Nor is the plan's foreign key to pricing_reapply_jobs: its per-row check (a trigger call and a
-- KEY SHARE lock of the job row per snapshot) measured ~12 us per changed diamond, a quarter of
-- a batch's time. Jobs are never deleted (history); prune-snapshots deletes snapshots itself.
CREATE TABLE pricing_reapply_snapshots (
    job_id UUID NOT NULL,
    diamond_id UUID NOT NULL,
    feed TEXT NOT NULL,
    feed_price NUMERIC(12,2),
    old_price_model_price NUMERIC(12,2) NOT NULL,
    old_markup_ratio NUMERIC(5,4),
    old_rating INTEGER,
    new_price_model_price NUMERIC(12,2) NOT NULL,
    new_markup_ratio NUMERIC(5,4),
    new_rating INTEGER,
    rule_id UUID,
    skipped BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (job_id, diamond_id)
);

"""SQL for job rows, their ranges and their snapshots: one statement per function.

The per-batch statements (reprice, revert) and the preview aggregate are in ``batches.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from diamond_pricing.db import DictConn

JOB_CHANNEL = "reapply_jobs"


async def insert_job(
    conn: DictConn,
    *,
    kind: str,
    scope: dict[str, Any],
    rules_snapshot: dict[str, Any] | None,
    total_diamonds: int,
    trigger_type: str,
    triggered_by: str | None,
    triggered_by_rule_id: UUID | None,
    allow_below_cost: bool,
    reverts_job_id: UUID | None,
) -> dict[str, Any]:
    """Insert a pending job (the partial unique index refuses a second active one)."""
    cur = await conn.execute(
        "INSERT INTO pricing_reapply_jobs (kind, scope, rules_snapshot, total_diamonds,"
        " trigger_type, triggered_by, triggered_by_rule_id, allow_below_cost, reverts_job_id)"
        " VALUES (%(kind)s, %(scope)s, %(rules)s, %(total)s, %(trigger)s, %(by)s, %(rule_id)s,"
        " %(allow)s, %(reverts)s) RETURNING *",
        {
            "kind": kind,
            "scope": Jsonb(scope),
            "rules": Jsonb(rules_snapshot) if rules_snapshot is not None else None,
            "total": total_diamonds,
            "trigger": trigger_type,
            "by": triggered_by,
            "rule_id": triggered_by_rule_id,
            "allow": allow_below_cost,
            "reverts": reverts_job_id,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def set_total(conn: DictConn, *, job_id: UUID, total: int) -> dict[str, Any]:
    """Record how many diamonds the job covers (counted when it is created)."""
    cur = await conn.execute(
        "UPDATE pricing_reapply_jobs SET total_diamonds = %(total)s WHERE id = %(id)s RETURNING *",
        {"id": job_id, "total": total},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def insert_ranges(conn: DictConn, *, job_id: UUID, bounds: list[tuple[UUID, UUID]]) -> None:
    """Create the job's id ranges (lo, hi inclusive), numbered in order."""
    await conn.execute(
        "INSERT INTO pricing_reapply_job_ranges (job_id, range_no, lo, hi)"
        " SELECT %(job_id)s, n - 1, lo, hi"
        " FROM unnest(%(los)s::uuid[], %(his)s::uuid[]) WITH ORDINALITY AS b (lo, hi, n)",
        {"job_id": job_id, "los": [lo for lo, _ in bounds], "his": [hi for _, hi in bounds]},
    )


async def notify_job(conn: DictConn, *, job_id: UUID) -> None:
    """Wake runners (delivered when the transaction commits)."""
    await conn.execute(
        "SELECT pg_notify(%(channel)s, %(id)s)", {"channel": JOB_CHANNEL, "id": str(job_id)}
    )


async def get_job(conn: DictConn, *, job_id: UUID, lock: bool = False) -> dict[str, Any] | None:
    """One job row (optionally locked FOR UPDATE)."""
    suffix = " FOR UPDATE" if lock else ""
    cur = await conn.execute(
        "SELECT * FROM pricing_reapply_jobs WHERE id = %(id)s" + suffix, {"id": job_id}
    )
    return await cur.fetchone()


async def get_active_job(conn: DictConn) -> dict[str, Any] | None:
    """The pending or running job, if any."""
    cur = await conn.execute(
        "SELECT * FROM pricing_reapply_jobs WHERE status IN ('pending', 'running')"
    )
    return await cur.fetchone()


async def list_jobs(
    conn: DictConn, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[dict[str, Any]]:
    """Jobs newest first, after a keyset position (created_at, id)."""
    cur = await conn.execute(
        "SELECT * FROM pricing_reapply_jobs"
        " WHERE %(at)s::timestamptz IS NULL OR (created_at, id) < (%(at)s, %(id)s)"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {"at": before[0] if before else None, "id": before[1] if before else None, "limit": limit},
    )
    return await cur.fetchall()


async def latest_completed_reapply(conn: DictConn) -> dict[str, Any] | None:
    """The most recent reapply job that completed (and was not reverted since)."""
    cur = await conn.execute(
        "SELECT * FROM pricing_reapply_jobs WHERE kind = 'reapply' AND status = 'completed'"
        " ORDER BY created_at DESC LIMIT 1"
    )
    return await cur.fetchone()


async def claim_job(conn: DictConn, *, owner: str, lease_seconds: float) -> dict[str, Any] | None:
    """Take the active job if it is pending or its lease expired; start or resume it."""
    cur = await conn.execute(
        "UPDATE pricing_reapply_jobs SET status = 'running', lease_owner = %(owner)s,"
        " lease_expires_at = now() + make_interval(secs => %(lease)s), heartbeat_at = now(),"
        " started_at = coalesce(started_at, now()), attempts = attempts + 1"
        " WHERE id = (SELECT id FROM pricing_reapply_jobs"
        "  WHERE status IN ('pending', 'running')"
        "   AND (lease_expires_at IS NULL OR lease_expires_at < now())"
        "  FOR UPDATE SKIP LOCKED LIMIT 1)"
        " RETURNING *",
        {"owner": owner, "lease": lease_seconds},
    )
    return await cur.fetchone()


async def renew_lease(
    conn: DictConn, *, job_id: UUID, owner: str, lease_seconds: float
) -> dict[str, Any] | None:
    """Extend our lease (heartbeat); None when the job is no longer ours or no longer running."""
    cur = await conn.execute(
        "UPDATE pricing_reapply_jobs SET lease_expires_at = now() + make_interval(secs => %(lease)s),"
        " heartbeat_at = now() WHERE id = %(id)s AND lease_owner = %(owner)s"
        " AND status = 'running' RETURNING cancel_requested",
        {"id": job_id, "owner": owner, "lease": lease_seconds},
    )
    return await cur.fetchone()


async def release_lease(conn: DictConn, *, job_id: UUID, owner: str) -> None:
    """Give the job up (shutdown): another runner may take it over at once."""
    await conn.execute(
        "UPDATE pricing_reapply_jobs SET lease_expires_at = now() - interval '1 second'"
        " WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'running'",
        {"id": job_id, "owner": owner},
    )


async def finish_job(
    conn: DictConn, *, job_id: UUID, owner: str, status: str, error: str | None
) -> dict[str, Any] | None:
    """Record a final status if we still hold the lease; None otherwise."""
    cur = await conn.execute(
        "UPDATE pricing_reapply_jobs SET status = %(status)s, error = %(error)s,"
        " completed_at = now(), lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'running' RETURNING *",
        {"id": job_id, "owner": owner, "status": status, "error": error},
    )
    return await cur.fetchone()


async def mark_reverted(conn: DictConn, *, job_id: UUID, revert_job_id: UUID) -> None:
    """The reverted job's final state once its revert completed."""
    await conn.execute(
        "UPDATE pricing_reapply_jobs SET status = 'reverted', reverted_at = now(),"
        " reverted_by_job_id = %(by)s WHERE id = %(id)s",
        {"id": job_id, "by": revert_job_id},
    )


async def set_reverted_by(conn: DictConn, *, job_id: UUID, revert_job_id: UUID | None) -> None:
    """Link (or unlink, when a revert is cancelled) a job and its revert."""
    await conn.execute(
        "UPDATE pricing_reapply_jobs SET reverted_by_job_id = %(by)s WHERE id = %(id)s",
        {"id": job_id, "by": revert_job_id},
    )


async def request_cancel(conn: DictConn, *, job_id: UUID) -> dict[str, Any] | None:
    """Ask an active job to stop; a pending job that never ran stops at once."""
    cur = await conn.execute(
        "UPDATE pricing_reapply_jobs SET cancel_requested = true,"
        " status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,"
        " completed_at = CASE WHEN status = 'pending' THEN now() ELSE completed_at END"
        " WHERE id = %(id)s AND status IN ('pending', 'running') RETURNING *",
        {"id": job_id},
    )
    return await cur.fetchone()


async def resume_job(conn: DictConn, *, job_id: UUID) -> dict[str, Any] | None:
    """Put a failed job back in the queue (its cursors are kept)."""
    cur = await conn.execute(
        "UPDATE pricing_reapply_jobs SET status = 'pending', error = NULL, completed_at = NULL,"
        " cancel_requested = false, lease_owner = NULL, lease_expires_at = NULL"
        " WHERE id = %(id)s AND status = 'failed' RETURNING *",
        {"id": job_id},
    )
    return await cur.fetchone()


async def claim_range(conn: DictConn, *, job_id: UUID) -> dict[str, Any] | None:
    """Lock an unfinished range of the job that no other session is working on."""
    cur = await conn.execute(
        "SELECT range_no, lo, hi, cursor FROM pricing_reapply_job_ranges"
        " WHERE job_id = %(id)s AND NOT done ORDER BY range_no LIMIT 1 FOR UPDATE SKIP LOCKED",
        {"id": job_id},
    )
    return await cur.fetchone()


async def count_open_ranges(conn: DictConn, *, job_id: UUID) -> int:
    """How many of the job's ranges are not done yet."""
    cur = await conn.execute(
        "SELECT count(*) AS n FROM pricing_reapply_job_ranges WHERE job_id = %(id)s AND NOT done",
        {"id": job_id},
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def list_changes(
    conn: DictConn,
    *,
    job_id: UUID,
    revert_job_id: UUID | None,
    after: UUID | None,
    feed: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of a job's snapshot rows by diamond id, with the revert's outcome per diamond."""
    cur = await conn.execute(
        "SELECT s.diamond_id, s.feed, s.feed_price, s.old_price_model_price,"
        " s.new_price_model_price, s.old_markup_ratio, s.new_markup_ratio, s.old_rating,"
        " s.new_rating, s.rule_id, s.skipped,"
        " CASE WHEN r.diamond_id IS NULL THEN NULL WHEN r.skipped THEN 'skipped'"
        "  ELSE 'restored' END AS revert_outcome"
        " FROM pricing_reapply_snapshots s"
        " LEFT JOIN pricing_reapply_snapshots r"
        "  ON r.job_id = %(revert)s AND r.diamond_id = s.diamond_id"
        " WHERE s.job_id = %(id)s AND (%(after)s::uuid IS NULL OR s.diamond_id > %(after)s)"
        "  AND (%(feed)s::text IS NULL OR s.feed = %(feed)s)"
        " ORDER BY s.diamond_id LIMIT %(limit)s",
        {"id": job_id, "revert": revert_job_id, "after": after, "feed": feed, "limit": limit},
    )
    return await cur.fetchall()


async def prunable_jobs(conn: DictConn, *, older_than_days: float) -> list[dict[str, Any]]:
    """Finished jobs older than the cutoff whose snapshots are still kept (locked)."""
    cur = await conn.execute(
        "SELECT j.id FROM pricing_reapply_jobs j"
        " WHERE j.status IN ('completed', 'cancelled', 'failed', 'reverted')"
        "  AND j.snapshots_pruned_at IS NULL"
        "  AND coalesce(j.reverted_at, j.completed_at, j.created_at)"
        "   < now() - %(days)s * interval '1 day'"
        "  AND NOT EXISTS (SELECT 1 FROM pricing_reapply_jobs r WHERE r.reverts_job_id = j.id"
        "   AND r.status IN ('pending', 'running'))"
        " ORDER BY j.created_at FOR UPDATE OF j SKIP LOCKED",
        {"days": older_than_days},
    )
    return await cur.fetchall()


async def delete_snapshots(conn: DictConn, *, job_id: UUID) -> int:
    """Delete one job's snapshots; returns how many."""
    cur = await conn.execute(
        "DELETE FROM pricing_reapply_snapshots WHERE job_id = %(id)s", {"id": job_id}
    )
    return cur.rowcount


async def mark_pruned(conn: DictConn, *, job_id: UUID) -> None:
    """Record that a job's snapshots are gone (it is no longer revertible)."""
    await conn.execute(
        "UPDATE pricing_reapply_jobs SET snapshots_pruned_at = now() WHERE id = %(id)s",
        {"id": job_id},
    )


async def count_jobs_by_status(conn: DictConn) -> list[dict[str, Any]]:
    """How many jobs of each kind are in each status (for /metrics)."""
    cur = await conn.execute(
        "SELECT kind, status, count(*) AS n FROM pricing_reapply_jobs GROUP BY kind, status"
    )
    return await cur.fetchall()

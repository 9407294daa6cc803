"""Job lifecycle operations, each inside the caller's transaction: create, cancel, resume, read.

``create_job`` is the one entry point for every reapply job (API, CLI and the rule endpoints):
it freezes the active rules and base margins *as this transaction sees them* (so a rule change
in the same transaction is included), inserts the job (the partial unique index makes a second
active job fail with 409, never check-then-insert), refuses a start that would price diamonds
below cost unless allowed (422), splits the id space into ranges and NOTIFYs runners on commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from diamond_pricing.db import DictConn
from diamond_pricing.errors import ApiError, not_found
from diamond_pricing.reapply import batches, queries
from diamond_pricing.reapply.compile import RuleSet, compile_rules
from diamond_pricing.reapply.models import Job, JobKind, JobStatus, Scope, TriggerType
from diamond_pricing.reapply.preview import current_rule_set, summarize
from diamond_pricing.reapply.schemas import JobOut
from diamond_pricing.settings import Settings

# How many id ranges a job's keyspace is split into: more than any sensible worker count, so
# sessions balance at the tail (each claims any unfinished range per batch).
RANGE_COUNT = 8
ACTIVE_INDEX = "pricing_reapply_jobs_one_active"


def id_ranges(count: int = RANGE_COUNT) -> list[tuple[UUID, UUID]]:
    """Split the UUID space into ``count`` contiguous inclusive ranges."""
    span = 1 << 128
    bounds = [span * i // count for i in range(count + 1)]
    return [(UUID(int=bounds[i]), UUID(int=bounds[i + 1] - 1)) for i in range(count)]


async def job_active_error(conn: DictConn) -> ApiError:
    """409 carrying the active job."""
    row = await queries.get_active_job(conn)
    job = JobOut.of(Job.from_row(row)).model_dump(mode="json") if row else None
    return ApiError(
        409,
        "job_active",
        "a reapply or revert job is already pending or running; wait for it or cancel it",
        details={"job": job},
    )


def is_active_conflict(exc: psycopg.errors.UniqueViolation) -> bool:
    """True when a unique violation comes from the one-active-job index."""
    return exc.diag.constraint_name == ACTIVE_INDEX


async def insert_job_or_409(conn: DictConn, **fields: Any) -> dict[str, Any]:
    """Insert a job in a savepoint; translate the single-flight violation into 409."""
    try:
        async with conn.transaction():
            return await queries.insert_job(conn, **fields)
    except psycopg.errors.UniqueViolation as exc:
        if not is_active_conflict(exc):
            raise
        raise await job_active_error(conn) from None


async def create_job(
    conn: DictConn,
    *,
    settings: Settings,
    scope: Scope | None = None,
    trigger_type: TriggerType | str = TriggerType.MANUAL,
    triggered_by: str | None,
    triggered_by_rule_id: UUID | None = None,
    allow_below_cost: bool = False,
) -> Job:
    """Create a pending reapply job in the caller's transaction (409 if one is active)."""
    scope = scope or Scope()
    rule_set = await current_rule_set(conn, settings)
    row = await insert_job_or_409(
        conn,
        kind=JobKind.REAPPLY.value,
        scope=scope.to_json(),
        rules_snapshot=rule_set.to_json(),
        total_diamonds=0,
        trigger_type=TriggerType(trigger_type).value,
        triggered_by=triggered_by,
        triggered_by_rule_id=triggered_by_rule_id,
        allow_below_cost=allow_below_cost,
        reverts_job_id=None,
    )
    compiled = compile_rules(rule_set)
    if compiled.may_price_below_cost:
        impact = summarize(await batches.impact_by_group(conn, compiled=compiled, scope=scope))
        total, below_cost = impact.total_diamonds, impact.below_cost
    else:
        total, below_cost = await batches.count_in_scope(conn, scope=scope), 0
    if below_cost > 0 and not allow_below_cost:
        raise ApiError(
            422,
            "below_cost",
            f"{below_cost} diamond(s) would be priced below cost; pass allow_below_cost to"
            " start anyway",
            details={"below_cost": below_cost, "total_diamonds": total},
        )
    row = await queries.set_total(conn, job_id=row["id"], total=total)
    await queries.insert_ranges(conn, job_id=row["id"], bounds=id_ranges())
    await queries.notify_job(conn, job_id=row["id"])
    return Job.from_row(row)


async def get_job(conn: DictConn, *, job_id: UUID) -> Job:
    """One job (404 if unknown)."""
    row = await queries.get_job(conn, job_id=job_id)
    if row is None:
        raise not_found("job", job_id)
    return Job.from_row(row)


async def list_jobs(
    conn: DictConn, *, before: tuple[datetime, UUID] | None, limit: int
) -> tuple[list[Job], tuple[datetime, UUID] | None]:
    """A page of jobs newest first and the keyset position of the next page."""
    rows = await queries.list_jobs(conn, before=before, limit=limit + 1)
    jobs = [Job.from_row(row) for row in rows[:limit]]
    more = len(rows) > limit
    return jobs, ((jobs[-1].created_at, jobs[-1].id) if more and jobs else None)


async def cancel_job(conn: DictConn, *, job_id: UUID) -> Job:
    """Ask an active job to stop between batches (a pending one stops at once); 400 if idle."""
    row = await queries.request_cancel(conn, job_id=job_id)
    if row is None:
        job = await get_job(conn, job_id=job_id)
        raise ApiError(
            400, "job_not_active", f"job {job_id} is {job.status.value}; only active jobs cancel"
        )
    job = Job.from_row(row)
    if job.status is JobStatus.CANCELLED and job.reverts_job_id is not None:
        await queries.set_reverted_by(conn, job_id=job.reverts_job_id, revert_job_id=None)
    return job


async def resume_job(conn: DictConn, *, job_id: UUID) -> Job:
    """Queue a failed job again; it continues from its cursors (400 unless failed, 409 if busy)."""
    job = await get_job(conn, job_id=job_id)
    if job.status is not JobStatus.FAILED:
        raise ApiError(
            400, "job_not_failed", f"job {job_id} is {job.status.value}; only failed jobs resume"
        )
    if job.kind is JobKind.REAPPLY and job.reverted_by_job_id is not None:
        raise ApiError(
            400, "job_reverted", f"job {job_id} is being reverted by {job.reverted_by_job_id}"
        )
    try:
        async with conn.transaction():
            row = await queries.resume_job(conn, job_id=job_id)
    except psycopg.errors.UniqueViolation as exc:
        if not is_active_conflict(exc):
            raise
        raise await job_active_error(conn) from None
    if row is None:
        raise ApiError(400, "job_not_failed", f"job {job_id} is no longer failed")
    await queries.notify_job(conn, job_id=job_id)
    return Job.from_row(row)


async def prune_snapshots(conn: DictConn, *, older_than_days: float) -> list[tuple[UUID, int]]:
    """Delete the snapshots of jobs finished more than N days ago; they stop being revertible."""
    pruned = []
    for row in await queries.prunable_jobs(conn, older_than_days=older_than_days):
        deleted = await queries.delete_snapshots(conn, job_id=row["id"])
        await queries.mark_pruned(conn, job_id=row["id"])
        pruned.append((row["id"], deleted))
    return pruned


@dataclass(frozen=True)
class RulesFreshness:
    """Whether prices may lag the rules: for the dashboard's stale-rules banner."""

    stale: bool
    last_job_id: UUID | None
    last_completed_at: datetime | None


async def rules_freshness(conn: DictConn, *, settings: Settings) -> RulesFreshness:
    """Stale when no reapply completed, or the rules differ from the last one's frozen set."""
    row = await queries.latest_completed_reapply(conn)
    if row is None or row["rules_snapshot"] is None:
        return RulesFreshness(stale=True, last_job_id=None, last_completed_at=None)
    applied = RuleSet.from_json(row["rules_snapshot"])
    current = await current_rule_set(conn, settings)
    return RulesFreshness(
        stale=applied != current, last_job_id=row["id"], last_completed_at=row["completed_at"]
    )

"""Reverting a reapply job: a background job of kind ``revert`` (SPEC §3).

Revertible: a reapply job that is completed, cancelled or failed, changed at least one diamond,
has its snapshots (not pruned), and is not reverted or being reverted. Otherwise 400 with the
reason — including a job that is still pending or running (cancel it first). A revert cannot
start while any job is active (409, the same single-flight index) — including another revert of
the same job, so of concurrent reverts one gets 202 and the others 409.

The revert job walks the reverted job's snapshots in keyset batches (``batches.REVERT_STATEMENT``)
and is stale-safe: a diamond is restored only when its current price, ratio, rating *and cost*
still equal what the job left; others are counted in ``skipped_diamonds`` and recorded as skipped
rows, so both jobs' change lists show them. When the revert completes, the reverted job becomes
``reverted`` (``reverted_at``); versions of the feeds it restored are bumped in that transaction.
A cancelled revert unlinks itself, so the job can be reverted again (diamonds already restored
then count as skipped, since they no longer hold the job's values).
"""

from __future__ import annotations

from uuid import UUID

from diamond_pricing.db import DictConn
from diamond_pricing.errors import ApiError, not_found
from diamond_pricing.reapply import queries
from diamond_pricing.reapply.models import Job, JobKind, TriggerType
from diamond_pricing.reapply.service import id_ranges, insert_job_or_409, job_active_error


async def create_revert_job(conn: DictConn, *, job_id: UUID, triggered_by: str | None) -> Job:
    """Start reverting ``job_id`` in the caller's transaction (400 / 404 / 409 as above)."""
    row = await queries.get_job(conn, job_id=job_id, lock=True)
    if row is None:
        raise not_found("job", job_id)
    target = Job.from_row(row)
    active = await queries.get_active_job(conn)
    if active is not None and active["id"] == target.reverted_by_job_id:
        # A concurrent revert of this job won the race: a conflict with an active job (409),
        # like any other start while a job runs, not a 400.
        raise await job_active_error(conn)
    reason = target.not_revertible_reason()
    if reason is not None:
        raise ApiError(400, "not_revertible", f"job {job_id} cannot be reverted: {reason}")
    revert = await insert_job_or_409(
        conn,
        kind=JobKind.REVERT.value,
        scope={},
        rules_snapshot=None,
        total_diamonds=target.updated_diamonds,
        trigger_type=TriggerType.REVERT.value,
        triggered_by=triggered_by,
        triggered_by_rule_id=None,
        allow_below_cost=True,
        reverts_job_id=job_id,
    )
    await queries.set_reverted_by(conn, job_id=job_id, revert_job_id=revert["id"])
    await queries.insert_ranges(conn, job_id=revert["id"], bounds=id_ranges())
    await queries.notify_job(conn, job_id=revert["id"])
    return Job.from_row(revert)

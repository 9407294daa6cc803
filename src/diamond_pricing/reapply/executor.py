"""Running one claimed job: ``settings.job_workers`` batch loops, then one final stop.

Each loop has its own connection. Per batch it opens a transaction, claims any unfinished id
range of the job (``FOR UPDATE SKIP LOCKED``, so loops — even of two processes — never share a
range), runs the batch statement and commits. The batch statement advances the range cursor and
the job counters, renews the lease, and reports whether a cancel was requested and whether the
lease is still ours (if not, the batch is rolled back and the run stops: another runner took
over). Nothing lives only in memory: a killed process leaves at most an uncommitted batch.

Transient database errors (``psycopg.OperationalError``: deadlock with a concurrent ingest, lock
timeout, serialization failure, lost connection) are retried with exponential backoff and
jitter, up to ``settings.job_max_retries`` consecutive failures; then, like any other error, the
job stops as ``failed`` with the error recorded (and ``resume`` continues from the cursors).

The final status (completed / cancelled / failed) is written in one transaction with the version
bump of every feed whose prices the job changed (and, for a revert, the reverted job's new state).
On shutdown the loops stop between batches and the lease is released for another runner.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from diamond_pricing.catalog.versions import bump_versions
from diamond_pricing.db import DictConn
from diamond_pricing.reapply import batches, queries
from diamond_pricing.reapply.compile import RuleSet, compile_rules
from diamond_pricing.reapply.models import Job, JobKind, JobStatus
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.2  # a loop with no range to claim waits this long before looking again
MAX_BACKOFF_SECONDS = 10.0

BatchFn = Callable[[DictConn, dict[str, Any]], Awaitable[dict[str, Any]]]


class LeaseLost(Exception):
    """Another runner owns the job now."""


class BatchMismatch(Exception):
    """A batch's updates and snapshots disagree (never expected; the batch is rolled back)."""


async def connect(conninfo: str, settings: Settings) -> DictConn:
    """An autocommit connection for job work, with the job's lock timeout."""
    conn = await psycopg.AsyncConnection.connect(conninfo, row_factory=dict_row, autocommit=True)
    timeout_ms = max(int(settings.job_lock_timeout_seconds * 1000), 1)
    # Every join in a batch is a batch-sized set against the diamonds primary key: keep them
    # index lookups (see batches.py).
    await conn.execute(
        f"SET lock_timeout = {timeout_ms}; SET enable_hashjoin = off; SET enable_mergejoin = off"
    )
    return conn


def backoff(settings: Settings, failures: int) -> float:
    """Exponential backoff with jitter for the n-th consecutive failure."""
    base = settings.job_retry_backoff_seconds * 2 ** (failures - 1)
    return float(min(base, MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.5))


def next_start(cursor: UUID | None, lo: UUID) -> UUID:
    """The first id a range's next batch may take."""
    return lo if cursor is None else UUID(int=cursor.int + 1)


@dataclass
class Outcome:
    """What one loop iteration found."""

    cancel: bool = False
    finished: bool = False
    idle: bool = False


class JobExecution:
    """One runner's run of one job, from claim to stop (or to losing the lease)."""

    def __init__(
        self, conninfo: str, settings: Settings, job: Job, owner: str, stop: asyncio.Event
    ) -> None:
        self.conninfo = conninfo
        self.settings = settings
        self.job = job
        self.owner = owner
        self.stop = stop
        self.halt = False
        self.cancelled = False
        self.finished = False
        self.lost = False
        self.error: str | None = None
        self.batch = self._batch_function()
        self.range_freed = asyncio.Event()  # wakes idle loops when a sibling stops

    def _batch_function(self) -> BatchFn:
        if self.job.kind is JobKind.REVERT:
            target = self.job.reverts_job_id

            async def revert(conn: DictConn, params: dict[str, Any]) -> dict[str, Any]:
                return await batches.run_revert_batch(conn, {**params, "target_id": target})

            return revert
        assert self.job.rules_snapshot is not None
        compiled = compile_rules(RuleSet.from_json(self.job.rules_snapshot))
        statement = batches.reprice_statement(compiled, self.job.scope)

        async def reprice(conn: DictConn, params: dict[str, Any]) -> dict[str, Any]:
            return await batches.run_reprice_batch(conn, statement, params)

        return reprice

    async def run(self) -> JobStatus | None:
        """Work the job to a stop; returns the final status, or None if handed over."""
        if self.job.cancel_requested:  # cancelled while its previous runner was gone
            await self._finish(JobStatus.CANCELLED)
            return JobStatus.CANCELLED
        workers = max(1, self.settings.job_workers)
        log.info("job %s (%s): running with %d session(s)", self.job.id, self.job.kind, workers)
        await asyncio.gather(*(self._loop(n) for n in range(workers)))
        if self.lost:
            log.warning("job %s: lease lost to another runner; stopping here", self.job.id)
            return None
        if self.error is not None:
            status = JobStatus.FAILED
        elif self.finished:
            status = JobStatus.COMPLETED
        elif self.cancelled:
            status = JobStatus.CANCELLED
        else:
            await self._release()
            return None
        await self._finish(status)
        return status

    async def _sleep(self, seconds: float, *also: asyncio.Event) -> None:
        if seconds <= 0:
            return
        waiters = [asyncio.ensure_future(e.wait()) for e in (self.stop, *also)]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _loop(self, number: int) -> None:
        conn: DictConn | None = None
        failures = 0
        try:
            while not self.halt and not self.stop.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = await connect(self.conninfo, self.settings)
                    outcome = await self._step(conn)
                except LeaseLost:
                    self.lost = self.halt = True
                    return
                except psycopg.OperationalError as exc:
                    failures += 1
                    if failures > self.settings.job_max_retries:
                        self._fail(exc)
                        return
                    delay = backoff(self.settings, failures)
                    log.warning(
                        "job %s: batch failed (%s); retry %d/%d in %.2fs",
                        self.job.id,
                        str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__,
                        failures,
                        self.settings.job_max_retries,
                        delay,
                    )
                    if conn is not None and conn.broken:
                        await conn.close()
                        conn = None
                    await self._sleep(delay)
                    continue
                except Exception as exc:
                    log.exception("job %s: batch failed", self.job.id)
                    self._fail(exc)
                    return
                if not outcome.idle:
                    # Only a batch that ran ends a run of failures: a loop that fails on a
                    # locked range and then finds it held by a sibling (idle) must keep counting,
                    # or two loops taking turns on a range blocked for good retry for ever.
                    failures = 0
                if outcome.finished:
                    self.finished = True
                    return
                if outcome.cancel:
                    self.cancelled = self.halt = True
                    return
                if outcome.idle:
                    self.range_freed.clear()
                    await self._sleep(IDLE_SECONDS, self.range_freed)
                else:
                    await self._sleep(self.settings.job_batch_pause_seconds)
        finally:
            self.range_freed.set()
            if conn is not None:
                await conn.close()

    def _fail(self, exc: BaseException) -> None:
        message = str(exc).strip() or type(exc).__name__
        self.error = self.error or f"{type(exc).__name__}: {message}"
        self.halt = True

    async def _step(self, conn: DictConn) -> Outcome:
        """One transaction: claim a range and run one batch of it (or find nothing to do)."""
        async with conn.transaction():
            claimed = await queries.claim_range(conn, job_id=self.job.id)
            if claimed is None:
                if await queries.count_open_ranges(conn, job_id=self.job.id) == 0:
                    return Outcome(finished=True)
                lease = await queries.renew_lease(
                    conn,
                    job_id=self.job.id,
                    owner=self.owner,
                    lease_seconds=self.settings.job_lease_seconds,
                )
                if lease is None:
                    raise LeaseLost
                return Outcome(idle=True, cancel=bool(lease["cancel_requested"]))
            result = await self.batch(
                conn,
                {
                    "start": next_start(claimed["cursor"], claimed["lo"]),
                    "hi": claimed["hi"],
                    "limit": self.settings.job_batch_size,
                    "job_id": self.job.id,
                    "range_no": claimed["range_no"],
                    "owner": self.owner,
                    "lease": self.settings.job_lease_seconds,
                },
            )
            if not result["owned"]:
                raise LeaseLost
            if result["written"] != result["updated"]:
                raise BatchMismatch(
                    f"batch wrote {result['written']} diamonds for {result['updated']} changes"
                )
            return Outcome(cancel=bool(result["cancel_requested"]))

    async def _release(self) -> None:
        try:
            conn = await connect(self.conninfo, self.settings)
            async with conn:
                await queries.release_lease(conn, job_id=self.job.id, owner=self.owner)
            log.info("job %s: released for another runner", self.job.id)
        except psycopg.Error as exc:
            log.warning(
                "job %s: could not release the lease (%s); it will expire", self.job.id, exc
            )

    async def _finish(self, status: JobStatus) -> None:
        """Record the stop and bump the changed feeds' versions in one transaction."""
        for attempt in range(1, self.settings.job_max_retries + 2):
            try:
                conn = await connect(self.conninfo, self.settings)
                async with conn, conn.transaction():
                    row = await queries.finish_job(
                        conn,
                        job_id=self.job.id,
                        owner=self.owner,
                        status=status.value,
                        error=self.error,
                    )
                    if row is None:
                        log.warning("job %s: no longer ours at the end", self.job.id)
                        return
                    job = Job.from_row(row)
                    await self._after_stop(conn, job, status)
                log.info(
                    "job %s: %s (processed %d, updated %d, failed %d, skipped %d)",
                    job.id,
                    status.value,
                    job.processed_diamonds,
                    job.updated_diamonds,
                    job.failed_diamonds,
                    job.skipped_diamonds,
                )
                return
            except psycopg.OperationalError as exc:
                log.warning("job %s: could not record the stop (%s)", self.job.id, exc)
                await self._sleep(backoff(self.settings, attempt))

    @staticmethod
    async def _after_stop(conn: DictConn, job: Job, status: JobStatus) -> None:
        if job.kind is JobKind.REVERT and job.reverts_job_id is not None:
            if status is JobStatus.COMPLETED:
                await queries.mark_reverted(conn, job_id=job.reverts_job_id, revert_job_id=job.id)
            elif status is JobStatus.CANCELLED:
                await queries.set_reverted_by(conn, job_id=job.reverts_job_id, revert_job_id=None)
        if job.updated_diamonds > 0:
            await bump_versions(conn, job.feeds_affected)

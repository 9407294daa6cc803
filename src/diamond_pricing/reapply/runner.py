"""The job runner: claims the active job with a lease and runs it; one per server or worker.

The job row is the queue. A runner claims the pending job — or a running one whose lease expired
because its process died — with ``FOR UPDATE SKIP LOCKED`` (lease owner ``host:pid:random``,
expiry ``now() + job_lease_seconds``), then runs it (``executor.JobExecution``), renewing the lease
with every batch. It wakes on ``NOTIFY reapply_jobs`` (sent when a job is created or resumed) on
a dedicated connection that reconnects, and also polls every ``job_poll_seconds``; so pending
jobs are picked up at start-up and expired leases are taken over within one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI

from diamond_pricing.db import DictConn
from diamond_pricing.reapply import queries
from diamond_pricing.reapply.executor import JobExecution, connect
from diamond_pricing.reapply.models import Job, JobStatus
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)


def new_owner() -> str:
    """A lease owner id unique to this runner: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runner:
    """Claims and runs jobs until stopped."""

    def __init__(self, conninfo: str, settings: Settings, *, owner: str | None = None) -> None:
        self.conninfo = conninfo
        self.settings = settings
        self.owner = owner or new_owner()
        self.wake = asyncio.Event()
        self.last_status: JobStatus | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run jobs until ``stop`` is set."""
        listener = asyncio.create_task(self._listen(stop))
        try:
            while not stop.is_set():
                self.wake.clear()
                job = await self.claim()
                if job is not None:
                    try:
                        self.last_status = await JobExecution(
                            self.conninfo, self.settings, job, self.owner, stop
                        ).run()
                    except Exception:  # never let one job take the runner down
                        log.exception("job %s: runner error; its lease will expire", job.id)
                        await self._wait(stop)
                    continue
                await self._wait(stop)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def claim(self) -> Job | None:
        """Take the active job if it is free (pending, or its lease expired)."""
        try:
            conn = await connect(self.conninfo, self.settings)
            async with conn:
                row = await queries.claim_job(
                    conn, owner=self.owner, lease_seconds=self.settings.job_lease_seconds
                )
        except psycopg.Error as exc:
            log.warning("job runner: cannot claim jobs now (%s)", exc)
            return None
        if row is None:
            return None
        job = Job.from_row(row)
        log.info("job %s: claimed by %s (attempt %d)", job.id, self.owner, job.attempts)
        return job

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.create_task(self.wake.wait()), asyncio.create_task(stop.wait())]
        try:
            await asyncio.wait(
                waiters,
                timeout=self.settings.job_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _listen(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                conn: DictConn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                )
                async with conn:
                    await conn.execute(f"LISTEN {queries.JOB_CHANNEL}")
                    delay = 0.5
                    self.wake.set()  # anything created while we were not listening
                    async for _ in conn.notifies():
                        self.wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job runner: LISTEN connection lost (%s); reconnecting", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


@asynccontextmanager
async def run_in_background(conninfo: str, settings: Settings) -> AsyncIterator[Runner]:
    """Run a runner as a task for the duration of the block; stop it gracefully after."""
    runner = Runner(conninfo, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=max(settings.job_lease_seconds, 10.0))
        except TimeoutError:
            log.warning("job runner did not stop in time; its lease will expire")


@asynccontextmanager
async def runner_service(app: FastAPI) -> AsyncIterator[None]:
    """Run this process's job runner while the app is up."""
    async with run_in_background(app.state.conninfo, app.state.settings):
        yield

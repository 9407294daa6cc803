"""Console commands of the reapply domain: start, watch, list, revert, cancel, resume, prune, worker.

The commands act on the database directly (``DATABASE_URL``, or the embedded server). Jobs are run
by runners (every ``serve`` process, and ``worker``). With ``--wait`` the command also runs a
runner in-process while it shows the progress bar, so the job runs even when no server or worker
is up; if one is, whichever claims the job first runs it and the other just watches. Interrupting
``--wait`` releases the job to any other runner (or it stays queued until one starts). ``--wait``
exits 0 when the job completes and 1 when it fails or is cancelled.
"""

from __future__ import annotations

import asyncio
import getpass
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar
from uuid import UUID

import psycopg
import typer
from psycopg.rows import dict_row

from diamond_pricing.db import DictConn
from diamond_pricing.errors import ApiError
from diamond_pricing.pricing.engine import StoneType
from diamond_pricing.reapply import service
from diamond_pricing.reapply.models import Job, JobStatus, Scope, TriggerType
from diamond_pricing.reapply.revert import create_revert_job
from diamond_pricing.reapply.runner import Runner, run_in_background
from diamond_pricing.reapply.schemas import JobOut
from diamond_pricing.runtime import progress_bar, run_with_conn, stderr
from diamond_pricing.settings import Settings

T = TypeVar("T")
JobId = Annotated[UUID, typer.Argument(help="The job's id.")]
Wait = Annotated[bool, typer.Option("--wait", help="Show progress until the job stops.")]
LIST_COLUMNS = ("ID", "KIND", "STATUS", "PROCESSED", "TOTAL", "UPDATED", "SKIPPED", "BY", "CREATED")


def who() -> str:
    """``triggered_by`` of jobs started from the shell."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _act(action: str, work: Callable[[DictConn], Awaitable[T]]) -> T:
    """Run a job operation in one transaction; ApiError becomes a one-line failure."""
    from diamond_pricing.cli import configure_logging, database, fail

    configure_logging()
    with database(Settings()) as db:
        try:
            return run_with_conn(db.conninfo, work)
        except ApiError as exc:
            raise fail(f"{action}: {exc.message}") from None


async def _watch(conninfo: str, settings: Settings, job: Job) -> Job:
    """Run a runner here and show the job's progress until it stops."""
    conn: DictConn = await psycopg.AsyncConnection.connect(
        conninfo, row_factory=dict_row, autocommit=True
    )
    async with conn, run_in_background(conninfo, settings):
        with progress_bar() as bar:
            task = bar.add_task(f"{job.kind.value} {job.id}", total=job.total_diamonds, rate="")
            while True:
                job = await service.get_job(conn, job_id=job.id)
                rate = job.rate_per_second()
                bar.update(
                    task,
                    completed=job.processed_diamonds,
                    total=max(job.total_diamonds, job.processed_diamonds),
                    rate=f"{rate:,.0f} rows/s" if rate else job.status.value,
                )
                if not job.is_active:
                    return job
                await asyncio.sleep(0.5)


def _wait(job: Job) -> None:
    from diamond_pricing.cli import database, fail

    settings = Settings()
    with database(settings) as db:
        try:
            job = asyncio.run(_watch(db.conninfo, settings, job))
        except KeyboardInterrupt:
            raise fail(f"stopped watching; job {job.id} continues in any running runner") from None
    stderr.print(
        f"job {job.id} {job.status.value}: processed {job.processed_diamonds:,},"
        f" updated {job.updated_diamonds:,}, failed {job.failed_diamonds:,},"
        f" skipped {job.skipped_diamonds:,}"
        + (f", feeds {', '.join(job.feeds_affected)}" if job.feeds_affected else ""),
        highlight=False,
    )
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise fail(f"job {job.id} {job.status.value}" + (f": {job.error}" if job.error else ""))


def reapply_command(
    feed: Annotated[list[str] | None, typer.Option("--feed", help="Only this feed.")] = None,
    stone_type: Annotated[
        list[StoneType] | None, typer.Option("--stone-type", help="Only this stone type.")
    ] = None,
    allow_below_cost: Annotated[
        bool, typer.Option("--allow-below-cost", help="Start even if prices go below cost.")
    ] = False,
    wait: Wait = False,
) -> None:
    """Reprice the available diamonds with the current rules; prints the job id."""
    settings = Settings()
    scope = Scope.of(feed, stone_type)
    job = _act(
        "cannot start the job",
        lambda conn: service.create_job(
            conn,
            settings=settings,
            scope=scope,
            trigger_type=TriggerType.MANUAL,
            triggered_by=who(),
            allow_below_cost=allow_below_cost,
        ),
    )
    stderr.print(f"started job {job.id} over {job.total_diamonds:,} diamonds", highlight=False)
    typer.echo(str(job.id))
    if wait:
        _wait(job)


def jobs_command(
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many jobs.")] = 20,
) -> None:
    """List recent jobs, newest first."""
    jobs, _ = _act(
        "cannot list jobs", lambda conn: service.list_jobs(conn, before=None, limit=limit)
    )
    rows = [LIST_COLUMNS]
    for job in jobs:
        rows.append(
            (
                str(job.id),
                job.kind.value,
                job.status.value,
                f"{job.processed_diamonds:,}",
                f"{job.total_diamonds:,}",
                f"{job.updated_diamonds:,}",
                f"{job.skipped_diamonds:,}",
                job.triggered_by or "-",
                job.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(LIST_COLUMNS))]
    for row in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def job_command(job_id: JobId) -> None:
    """Show one job as JSON (progress, rate, ETA, frozen rules)."""
    job = _act("cannot read the job", lambda conn: service.get_job(conn, job_id=job_id))
    typer.echo(JobOut.of(job, datetime.now(UTC)).model_dump_json(indent=2))


def revert_command(job_id: JobId, wait: Wait = False) -> None:
    """Start reverting a job (stale-safe); prints the revert job's id."""
    job = _act(
        "cannot revert",
        lambda conn: create_revert_job(conn, job_id=job_id, triggered_by=who()),
    )
    stderr.print(f"started revert job {job.id} of {job_id}", highlight=False)
    typer.echo(str(job.id))
    if wait:
        _wait(job)


def cancel_command(job_id: JobId) -> None:
    """Ask an active job to stop after its current batch."""
    job = _act("cannot cancel", lambda conn: service.cancel_job(conn, job_id=job_id))
    stderr.print(f"job {job.id}: cancel requested ({job.status.value})", highlight=False)


def resume_command(job_id: JobId, wait: Wait = False) -> None:
    """Resume a failed job from its cursor."""
    job = _act("cannot resume", lambda conn: service.resume_job(conn, job_id=job_id))
    stderr.print(f"job {job.id} queued again", highlight=False)
    if wait:
        _wait(job)


def prune_command(
    older_than: Annotated[
        float, typer.Option("--older-than", min=0, help="Age in days of the jobs to prune.")
    ],
) -> None:
    """Delete snapshots of jobs finished more than N days ago (they can no longer be reverted)."""
    from diamond_pricing.cli import configure_logging, database

    configure_logging()
    with database(Settings()) as db:
        pruned = run_with_conn(
            db.conninfo,
            lambda conn: service.prune_snapshots(conn, older_than_days=older_than),
        )
    rows = sum(count for _, count in pruned)
    stderr.print(f"pruned {rows:,} snapshot rows of {len(pruned)} job(s)", highlight=False)


def worker_command() -> None:
    """Run only the job runner (for extra machines) until SIGINT / SIGTERM."""
    from diamond_pricing.cli import configure_logging, database

    configure_logging()
    settings = Settings()
    with database(settings) as db:
        asyncio.run(_work(db.conninfo, settings))


async def _work(conninfo: str, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = Runner(conninfo, settings)
    stderr.print(f"job runner {runner.owner} started", highlight=False)
    await runner.run(stop)
    stderr.print("job runner stopped", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the console script."""
    app.command("reapply")(reapply_command)
    app.command("jobs")(jobs_command)
    app.command("job")(job_command)
    app.command("revert")(revert_command)
    app.command("cancel")(cancel_command)
    app.command("resume")(resume_command)
    app.command("prune-snapshots")(prune_command)
    app.command("worker")(worker_command)

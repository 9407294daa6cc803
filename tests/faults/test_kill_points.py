"""kill -9 of the job's process at six points; a fresh worker finishes as if nothing happened.

Each test runs a real ``diamond-pricing worker`` (the victim) against a real database, brings
it to one precise point — held there by a lock the test owns, so the kill lands where intended —
and SIGKILLs it. Then: the victim's database sessions end by themselves (even one blocked on the
test's lock: its lock_timeout fires and PostgreSQL finds the client gone), the state it left is
consistent (every changed diamond has its snapshot, counters match the ranges), a fresh worker
takes the job over once the 2 s lease expires and finishes it, the final pricing equals the
engine's (an uninterrupted run's), snapshots == updated, versions are bumped once, and a revert
restores the pre-job pricing byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg
import pytest

from diamond_pricing.reapply.revert import create_revert_job
from diamond_pricing.reapply.service import create_job
from diamond_pricing.settings import Settings
from tests.faults.conftest import holding, run_here
from tests.faults.procs import BASE_SETTINGS, Proc, Procs, backends, wait_until
from tests.reapply.conftest import (
    assert_bumped_once,
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    pricing_text,
    seed,
    versions,
    wait_job_db,
    wait_progress,
)
from tests.support import run_async

DB = psycopg.Connection[dict[str, Any]]
COUNT = 3000
FRESH = {"job_batch_size": 250, "job_workers": 2}
# The victim's sessions must be gone within its lock_timeout plus this margin.
ORPHAN_MARGIN = 8.0
# A point: (db, db_url, settings, procs, hold) -> (victim, job id); the victim is then killed.
Point = Callable[[DB, str, Settings, Procs, DB], tuple[Proc, UUID]]


def start_job(db_url: str, settings: Settings) -> UUID:
    """Create a pending reapply job (as the API does)."""
    job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="faults"))
    return job.id


def start_revert(db_url: str, job_id: UUID) -> UUID:
    """Create a pending revert job of ``job_id``."""
    job = run_async(
        db_url, lambda conn: create_revert_job(conn, job_id=job_id, triggered_by="faults")
    )
    return job.id


def lock_waiter(db: DB, victim: Proc, table: str) -> dict[str, Any]:
    """Wait until one of the victim's sessions is blocked on a lock in a statement on ``table``."""

    def blocked() -> dict[str, Any] | None:
        for row in backends(db, victim.name):
            if row["wait_event_type"] == "Lock" and table in row["query"]:
                return row
        return None

    return wait_until(blocked, timeout=30, what=f"{victim.name} to wait on {table}")


def at_claim(db: DB, db_url: str, settings: Settings, procs: Procs, hold: DB) -> tuple[Proc, UUID]:
    """Start-up: the victim claimed the pending job, but every range is locked by the test."""
    job_id = start_job(db_url, settings)
    hold.execute("SELECT 1 FROM pricing_reapply_job_ranges WHERE job_id = %s FOR UPDATE", (job_id,))
    victim = procs.start("worker", db_url, "victim", job_workers=2, job_batch_size=100)
    wait_until(
        lambda: victim.owns(job_row(db, job_id)["lease_owner"]), timeout=30, what="the claim"
    )
    time.sleep(0.3)  # its loops have looked for a range (and found none free) at least once
    row = job_row(db, job_id)
    assert row["status"] == "running" and row["attempts"] == 1
    assert row["processed_diamonds"] == 0
    return victim, job_id


def between_batches(
    db: DB, db_url: str, settings: Settings, procs: Procs, hold: DB
) -> tuple[Proc, UUID]:
    """Between batches: both loops pause 0.5 s after each commit; kill while all are idle."""
    victim = procs.start(
        "worker",
        db_url,
        "victim",
        job_workers=2,
        job_batch_size=100,
        job_batch_pause_seconds=0.5,
    )
    job_id = start_job(db_url, settings)
    wait_progress(db, job_id, 600)

    def all_idle() -> bool:
        rows = backends(db, victim.name)
        return bool(rows) and all(row["state"] == "idle" for row in rows)

    wait_until(all_idle, timeout=10, interval=0.005, what="no batch in flight")
    return victim, job_id


def inside_a_batch(
    db: DB, db_url: str, settings: Settings, procs: Procs, hold: DB
) -> tuple[Proc, UUID]:
    """Inside a batch: the test holds the row lock of a diamond its next batch must lock."""
    ids = db.execute(
        "SELECT id FROM diamonds WHERE availability = 'available' ORDER BY id"
    ).fetchall()
    target = ids[len(ids) // 3]["id"]
    hold.execute("SELECT 1 FROM diamonds WHERE id = %s FOR UPDATE", (target,))
    victim = procs.start("worker", db_url, "victim", job_workers=1, job_batch_size=100)
    job_id = start_job(db_url, settings)
    lock_waiter(db, victim, "WITH locked AS")  # the reprice batch statement
    row = job_row(db, job_id)
    assert 0 < row["processed_diamonds"] < row["total_diamonds"]
    return victim, job_id


def in_final_transaction(
    db: DB, db_url: str, settings: Settings, procs: Procs, hold: DB
) -> tuple[Proc, UUID]:
    """The final status transaction: its version bump waits on the test's table lock."""
    hold.execute("LOCK TABLE dataset_versions IN EXCLUSIVE MODE")
    victim = procs.start("worker", db_url, "victim", job_workers=2, job_batch_size=250)
    job_id = start_job(db_url, settings)
    lock_waiter(db, victim, "dataset_versions")
    row = job_row(db, job_id)
    assert row["status"] == "running" and row["processed_diamonds"] == row["total_diamonds"]
    return victim, job_id


REAPPLY_POINTS: dict[str, Point] = {
    "claim": at_claim,
    "between-batches": between_batches,
    "inside-a-batch": inside_a_batch,
    "final-transaction": in_final_transaction,
}


def snapshot_ids(db: DB, job_id: UUID, *, skipped: bool | None = None) -> set[UUID]:
    """Diamonds with a snapshot row of the job (optionally only skipped / restored ones)."""
    rows = db.execute(
        "SELECT diamond_id FROM pricing_reapply_snapshots WHERE job_id = %s"
        " AND (%s::boolean IS NULL OR skipped = %s)",
        (job_id, skipped, skipped),
    ).fetchall()
    return {row["diamond_id"] for row in rows}


def kill_and_wait_for_orphans(db: DB, victim: Proc, report: Callable[[str], None]) -> float:
    """SIGKILL the victim; its sessions must end by themselves. Returns the kill time."""
    killed = victim.kill9()
    limit = float(BASE_SETTINGS["job_lock_timeout_seconds"]) + ORPHAN_MARGIN
    wait_until(lambda: not backends(db, victim.name), timeout=limit, what="orphans to end")
    report(f"{victim.name}: sessions gone {time.monotonic() - killed:.2f}s after kill -9")
    return killed


def assert_consistent_at_crash(db: DB, job_id: UUID, baseline: dict[UUID, Any]) -> dict[str, Any]:
    """What a dead process left: still running; exactly the committed batches, nothing else."""
    row = job_row(db, job_id)
    assert row["status"] == "running", row
    ranges = db.execute(
        "SELECT coalesce(sum(processed), 0) AS n FROM pricing_reapply_job_ranges WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert ranges == {"n": row["processed_diamonds"]}
    now = pricing_text(db)
    changed = {key for key, value in now.items() if value != baseline[key]}
    if row["kind"] == "reapply":
        assert snapshot_ids(db, job_id) == changed
        assert row["updated_diamonds"] == len(changed)
    else:
        assert snapshot_ids(db, job_id, skipped=False) == changed
        assert len(snapshot_ids(db, job_id)) == row["processed_diamonds"]
    return row


def take_over(
    db: DB, db_url: str, procs: Procs, job_id: UUID, killed: float, report: Callable[[str], None]
) -> dict[str, Any]:
    """Start a fresh worker; it must take the job over and finish it."""
    fresh = procs.start("worker", db_url, "fresh", **FRESH)
    wait_until(
        lambda: job_row(db, job_id)["attempts"] >= 2, timeout=30, interval=0.01, what="takeover"
    )
    report(f"fresh worker took the job over {time.monotonic() - killed:.2f}s after the kill")
    row = wait_job_db(db, job_id, timeout=60)
    assert row["attempts"] == 2 and row["error"] is None and row["lease_owner"] is None
    assert fresh.popen.poll() is None
    return row


@pytest.mark.parametrize("point", list(REAPPLY_POINTS))
def test_kill_9_mid_reapply_then_a_fresh_worker_finishes_it_exactly(
    point: str,
    db: DB,
    db_url: str,
    settings: Settings,
    report: Callable[[str], None],
    procs: Procs,
) -> None:
    seed(db_url, settings, COUNT)
    before = pricing_text(db)
    versions_before = versions(db)
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    current = outputs(pricing_state(db))
    changed = {key for key, value in expected.items() if value != current[key]}
    assert 0 < len(changed) < len(expected)

    with holding(db_url) as hold:
        victim, job_id = REAPPLY_POINTS[point](db, db_url, settings, procs, hold)
        killed = kill_and_wait_for_orphans(db, victim, report)
        crashed = assert_consistent_at_crash(db, job_id, before)
        assert versions(db) == versions_before  # no stop was recorded, so no bump either
    report(f"{point}: killed at {crashed['processed_diamonds']}/{crashed['total_diamonds']}")

    row = take_over(db, db_url, procs, job_id, killed, report)
    assert row["processed_diamonds"] == row["total_diamonds"] == len(expected)
    assert row["updated_diamonds"] == len(changed) == len(snapshot_ids(db, job_id))
    state = pricing_text(db)
    assert {k: v for k, v in outputs(pricing_state(db)).items() if k in expected} == expected
    assert {k: v for k, v in state.items() if k not in expected} == {
        k: v for k, v in before.items() if k not in expected
    }
    assert_bumped_once(versions_before, versions(db), row["feeds_affected"])

    revert_id = start_revert(db_url, job_id)
    revert = wait_job_db(db, revert_id, timeout=60)
    assert revert["updated_diamonds"] == len(changed) and revert["skipped_diamonds"] == 0
    assert pricing_text(db) == before


@pytest.mark.parametrize("point", ["mid-revert", "revert-final-transaction"])
def test_kill_9_mid_revert_then_a_fresh_worker_restores_the_pre_job_state(
    point: str,
    db: DB,
    db_url: str,
    settings: Settings,
    report: Callable[[str], None],
    procs: Procs,
) -> None:
    seed(db_url, settings, COUNT)
    before = pricing_text(db)
    change_rules(db)
    job_id = start_job(db_url, settings)
    run_here(db_url, settings.model_copy(update={"job_batch_size": 500}), db, job_id)
    job = job_row(db, job_id)
    assert job["status"] == "completed" and job["updated_diamonds"] > 0
    after_job = pricing_text(db)
    versions_after_job = versions(db)

    with holding(db_url) as hold:
        if point == "mid-revert":
            victim = procs.start(
                "worker",
                db_url,
                "victim",
                job_workers=2,
                job_batch_size=50,
                job_batch_pause_seconds=0.2,
            )
            revert_id = start_revert(db_url, job_id)
            wait_progress(db, revert_id, min(300, job["updated_diamonds"] // 2))
        else:
            hold.execute("LOCK TABLE dataset_versions IN EXCLUSIVE MODE")
            victim = procs.start("worker", db_url, "victim", job_workers=2, job_batch_size=250)
            revert_id = start_revert(db_url, job_id)
            lock_waiter(db, victim, "dataset_versions")
        killed = kill_and_wait_for_orphans(db, victim, report)
        crashed = assert_consistent_at_crash(db, revert_id, after_job)
        target = job_row(db, job_id)
        assert target["status"] == "completed" and target["reverted_by_job_id"] == revert_id
        assert versions(db) == versions_after_job
    report(f"{point}: killed at {crashed['processed_diamonds']}/{crashed['total_diamonds']}")

    revert = take_over(db, db_url, procs, revert_id, killed, report)
    assert revert["processed_diamonds"] == revert["updated_diamonds"] == job["updated_diamonds"]
    assert revert["skipped_diamonds"] == 0
    assert len(snapshot_ids(db, revert_id)) == job["updated_diamonds"]
    assert job_row(db, job_id)["status"] == "reverted"
    assert pricing_text(db) == before
    assert_bumped_once(versions_after_job, versions(db), revert["feeds_affected"])

"""A diamond locked for good by a stuck session: the job fails cleanly, and resume finishes it.

Both job sessions of a worker end up taking turns on the one blocked range (each times out on
the lock, the other then finds the range held and idles). The failures must still add up to
``job_max_retries`` so the job stops as ``failed`` (resumable) instead of retrying for ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from diamond_pricing.reapply.service import create_job, resume_job
from diamond_pricing.settings import Settings
from tests.faults.conftest import holding
from tests.faults.procs import Procs
from tests.reapply.conftest import (
    change_rules,
    engine_now,
    engine_outputs,
    outputs,
    pricing_state,
    seed,
    wait_job_db,
)
from tests.support import run_async

DB = psycopg.Connection[dict[str, Any]]


def test_a_range_blocked_for_good_fails_the_job_and_resume_completes_it(
    db: DB, db_url: str, settings: Settings, report: Callable[[str], None], procs: Procs
) -> None:
    seed(db_url, settings, 2000)
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    procs.start(
        "worker",
        db_url,
        "worker",
        job_workers=2,
        job_batch_size=100,
        job_lock_timeout_seconds=0.3,
        job_max_retries=3,
        job_retry_backoff_seconds=0.05,
    )
    with holding(db_url) as stuck:
        first = stuck.execute(
            "SELECT id FROM diamonds WHERE availability = 'available' ORDER BY id LIMIT 1"
        ).fetchone()
        assert first is not None
        stuck.execute("SELECT 1 FROM diamonds WHERE id = %s FOR UPDATE", (first["id"],))
        started = time.monotonic()
        job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
        # At most 2 x 3 + 1 failed attempts of 0.3 s (the range is held by one at a time) plus
        # backoffs: a few seconds. Counting idle turns as successes took 14-17 s, or for ever.
        row = wait_job_db(db, job.id, ("failed",), timeout=8)
        report(
            f"stuck lock: job failed after {time.monotonic() - started:.1f}s ({row['error'].splitlines()[0]})"
        )
        assert "lock timeout" in row["error"]
        assert row["processed_diamonds"] < row["total_diamonds"]
    run_async(db_url, lambda conn: resume_job(conn, job_id=job.id))
    row = wait_job_db(db, job.id, timeout=30)
    assert row["processed_diamonds"] == row["total_diamonds"] == len(expected)
    assert {k: v for k, v in outputs(pricing_state(db)).items() if k in expected} == expected

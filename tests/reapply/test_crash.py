"""A worker process killed mid-job: another one takes the job over and finishes it exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from diamond_pricing.reapply.revert import create_revert_job
from diamond_pricing.reapply.service import create_job
from diamond_pricing.settings import Settings
from tests.reapply.conftest import (
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    pricing_text,
    wait_job_db,
    wait_progress,
)
from tests.support import run_async

DB = psycopg.Connection[dict[str, Any]]
SCRIPT = Path(sys.executable).with_name("diamond-pricing")


def start_worker(db_url: str) -> subprocess.Popen[bytes]:
    """``diamond-pricing worker`` in its own process: small slow batches, a 1 s lease."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DIAMOND_JOB_BATCH_SIZE": "50",
        "DIAMOND_JOB_BATCH_PAUSE_SECONDS": "0.05",
        "DIAMOND_JOB_LEASE_SECONDS": "1",
        "DIAMOND_JOB_POLL_SECONDS": "0.2",
    }
    return subprocess.Popen(
        [str(SCRIPT), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def test_killed_worker_job_is_taken_over_and_finishes_as_if_uninterrupted(
    db: DB, db_url: str, settings: Settings, seeded: int
) -> None:
    before_text = pricing_text(db)
    before = outputs(pricing_state(db))
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    changed = {key for key in expected if expected[key] != before[key]}

    first = start_worker(db_url)
    second = None
    try:
        job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
        row = wait_progress(db, job.id, 600)
        assert row["lease_owner"].split(":")[1] == str(first.pid)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        row = job_row(db, job.id)
        assert row["status"] == "running" and row["processed_diamonds"] < row["total_diamonds"]

        second = start_worker(db_url)
        row = wait_job_db(db, job.id, timeout=60)
        assert row["attempts"] == 2 and row["lease_owner"] is None and row["error"] is None
        assert row["processed_diamonds"] == row["total_diamonds"] == len(expected)
        assert row["updated_diamonds"] == len(changed)
        snapshots = db.execute(
            "SELECT count(*) AS n FROM pricing_reapply_snapshots WHERE job_id = %s", (job.id,)
        ).fetchone()
        assert snapshots == {"n": len(changed)}
        after = outputs(pricing_state(db))
        assert {key: after[key] for key in expected} == expected
        assert {k: v for k, v in pricing_text(db).items() if k not in expected} == {
            k: v for k, v in before_text.items() if k not in expected
        }

        revert = run_async(
            db_url, lambda conn: create_revert_job(conn, job_id=job.id, triggered_by="t")
        )
        wait_job_db(db, revert.id, timeout=60)
        assert pricing_text(db) == before_text

        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0  # graceful stop on SIGTERM
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

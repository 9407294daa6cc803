"""Two ``serve`` processes and one ``worker`` on one database: one runner at a time, handover.

A job started through one server is run by exactly one of the three processes at a time: a
sampler watches, every 10 ms, which processes have a batch statement in flight (by their
application_name) next to the job's lease owner. Killing the lease holder with SIGKILL hands
the job to another process within the lease time plus one poll (plus a margin); nothing is done
twice (processed == total, snapshots == updated) and the prices equal the engine's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from diamond_pricing.auth.keys import Role
from diamond_pricing.settings import Settings
from tests.faults.procs import BASE_SETTINGS, Procs, wait_until
from tests.reapply.conftest import (
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    seed,
    wait_job,
    wait_progress,
)

DB = psycopg.Connection[dict[str, Any]]
COUNT = 3000
START = "/api/v2/pricing-rules/reapply"
SLOW = {"job_batch_size": 50, "job_batch_pause_seconds": 0.1, "job_workers": 2}
TAKEOVER_MARGIN = 3.0

SAMPLE = """
SELECT j.lease_owner, j.attempts, j.status, j.processed_diamonds,
    ARRAY(SELECT DISTINCT a.application_name FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
        AND a.state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')
        AND a.query LIKE '%%WITH locked AS%%') AS batching
FROM pricing_reapply_jobs j WHERE j.id = %s
"""


class Sampler(threading.Thread):
    """Records (time, lease owner, attempts, processes with a batch in flight) every 10 ms."""

    def __init__(self, db_url: str, job_id: str) -> None:
        super().__init__(daemon=True)
        self.db_url = db_url
        self.job_id = job_id
        self.samples: list[tuple[float, dict[str, Any]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True, row_factory=dict_row) as conn:
            while not self.done.is_set():
                row = conn.execute(SAMPLE, (self.job_id,)).fetchone()
                assert row is not None
                self.samples.append((time.monotonic(), row))
                if row["status"] not in ("pending", "running"):
                    return
                time.sleep(0.01)


def test_two_serves_and_a_worker_run_a_job_one_at_a_time_and_hand_it_over_on_kill(
    db: DB,
    db_url: str,
    settings: Settings,
    make_key: Callable[..., str],
    report: Callable[[str], None],
    procs: Procs,
) -> None:
    seed(db_url, settings, COUNT)
    before = outputs(pricing_state(db))
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    changed = {key for key, value in expected.items() if value != before[key]}
    key = make_key(Role.ADMIN, "faults")
    runners = [
        procs.launch("serve", db_url, "serve-a", **SLOW),
        procs.launch("serve", db_url, "serve-b", **SLOW),
        procs.start("worker", db_url, "worker-c", **SLOW),
    ]
    serve_a, serve_b, _ = runners
    for proc in (serve_a, serve_b):
        procs.wait_serving(proc)
    by_pid = {str(proc.pid): proc for proc in runners}

    with httpx.Client(base_url=serve_a.url or "", headers={"X-API-Key": key}) as client:
        response = client.post(START)
        assert response.status_code == 202, response.text
        job_id = response.json()["data"]["id"]
        sampler = Sampler(db_url, job_id)
        sampler.start()
        try:
            row = wait_progress(db, job_id, 1000)
            holder = by_pid[row["lease_owner"].split(":")[1]]
            assert row["attempts"] == 1
            killed = holder.kill9()
            row = wait_until(
                lambda: (r := job_row(db, job_id))["attempts"] == 2 and r,
                timeout=30,
                interval=0.01,
                what="takeover",
            )
            takeover = time.monotonic() - killed
            successor = by_pid[row["lease_owner"].split(":")[1]]
            assert successor is not holder
            survivor = serve_b if holder is serve_a else serve_a
            with httpx.Client(base_url=survivor.url or "", headers={"X-API-Key": key}) as other:
                job = wait_job(other, job_id, timeout=60)
        finally:
            sampler.done.set()
            sampler.join(timeout=10)

    limit = BASE_SETTINGS["job_lease_seconds"] + BASE_SETTINGS["job_poll_seconds"]
    report(
        f"takeover: {holder.name} killed at {row['processed_diamonds']}/{job['total_diamonds']},"
        f" {successor.name} took over after {takeover:.2f}s (lease {limit - 0.2:.0f}s + poll)"
    )
    assert takeover <= limit + TAKEOVER_MARGIN

    # One runner at a time: no sample ever saw two processes with a batch in flight, and
    # batches ran only in the process holding the lease (or, briefly, the killed one's orphan).
    assert len(sampler.samples) > 100
    for _, sample in sampler.samples:
        assert len(sample["batching"]) <= 1, sample
        for app in sample["batching"]:
            owner = sample["lease_owner"]
            assert app == holder.name or (owner and by_pid[owner.split(":")[1]].name == app)
    seen = {app for _, sample in sampler.samples for app in sample["batching"]}
    assert seen <= {holder.name, successor.name} and successor.name in seen

    final = job_row(db, job_id)
    assert final["attempts"] == 2 and final["error"] is None
    assert job["processed_diamonds"] == job["total_diamonds"] == len(expected)
    snapshots = db.execute(
        "SELECT count(*) AS n FROM pricing_reapply_snapshots WHERE job_id = %s", (job_id,)
    ).fetchone()
    assert job["updated_diamonds"] == len(changed) and snapshots == {"n": len(changed)}
    ranges = db.execute(
        "SELECT sum(processed) AS n, bool_and(done) AS done FROM pricing_reapply_job_ranges"
        " WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert ranges == {"n": len(expected), "done": True}
    assert {k: v for k, v in outputs(pricing_state(db)).items() if k in expected} == expected
    assert all(proc.popen.poll() is None for proc in runners if proc is not holder)

"""PostgreSQL stopped and restarted under a ``serve`` that is running a job.

A private embedded server (pgserver, in a short temporary directory: never the shared test
server) is stopped with ``pg_ctl stop -m fast`` mid-job. While it is down the API answers 503 in
our error shape (never 500), ``/readyz`` is 503 and ``/healthz`` stays 200. After it is started
again the same process recovers by itself, and the job either resumes by itself or has failed
cleanly and ``diamond-pricing resume JOB --wait`` completes it. The final prices equal the
engine's for every diamond.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from diamond_pricing.auth.keys import Role, create_key
from diamond_pricing.catalog.refresh import LISTENER_APPLICATION_NAME
from diamond_pricing.migrate import migrate
from tests.faults.loadgen import listed, shown
from tests.faults.procs import SCRIPT, Procs, wait_until
from tests.reapply.conftest import (
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    seed,
    wait_job_db,
    wait_progress,
)
from tests.support import make_settings, run_async, with_database

DB = psycopg.Connection[dict[str, Any]]
COUNT = 3000
DOWN_SECONDS = float(os.environ.get("DIAMOND_FAULTS_PG_DOWN_SECONDS", "4"))
START = "/api/v2/pricing-rules/reapply"
JOBS = "/api/v2/pricing-rules/reapply/jobs"
# Each must answer quickly while the database is down (an unbounded wait is a failure too):
# within the pool timeout the server is given (2 s) plus a margin.
ANSWER_WITHIN = 5.0


class PrivateServer:
    """A PostgreSQL of this test's own, which the test may stop and start."""

    def __init__(self, root: Path) -> None:
        import pgserver

        self.root = root
        self.server: Any = pgserver.get_server(  # type: ignore[attr-defined]
            root / "pg", cleanup_mode="delete"
        )
        self.uri: str = self.server.get_uri()

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: sessions are terminated, the server goes away."""
        from pgserver import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=60,
        )

    def start(self) -> None:
        """Start it again (same data directory and socket, so the same URI)."""
        from pgserver.postgres_server import PostgresServer

        with PostgresServer._lock:
            self.server.ensure_postgres_running()
        assert self.server.get_uri() == self.uri

    def close(self) -> None:
        """Stop it and delete its files."""
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivateServer]:
    """A fresh embedded PostgreSQL under a short /tmp path (unix socket paths are limited)."""
    server = PrivateServer(Path(tempfile.mkdtemp(prefix="dpf", dir="/tmp")))
    try:
        yield server
    finally:
        server.close()


def catalog_paths(ids: list[str]) -> list[str]:
    """Catalog reads: two searches and some single diamonds."""
    return [
        "/api/v2/diamonds?sort=price_model_price&limit=200",
        "/api/v2/diamonds?stone_type=lab&limit=100",
        *(f"/api/v2/diamonds/{diamond_id}" for diamond_id in ids),
    ]


def probe(client: httpx.Client, path: str) -> tuple[int, float, Any]:
    """(status, seconds, JSON body or None) of one GET."""
    started = time.monotonic()
    try:
        response = client.get(path, timeout=ANSWER_WITHIN + 5)
    except httpx.HTTPError as exc:
        return -1, time.monotonic() - started, repr(exc)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, time.monotonic() - started, body


def test_the_api_is_503_while_postgres_is_down_and_recovers_and_the_job_completes(
    private_pg: PrivateServer, tmp_path: Path, report: Callable[[str], None], procs: Procs
) -> None:
    with psycopg.connect(private_pg.uri, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("faults")))
    db_url = with_database(private_pg.uri, "faults")
    migrate(db_url)
    settings = make_settings(db_url)
    seed(db_url, settings, COUNT)
    db = psycopg.connect(db_url, autocommit=True, row_factory=dict_row)
    before = outputs(pricing_state(db))
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    changed = {key for key, value in expected.items() if value != before[key]}
    _, key = run_async(db_url, lambda conn: create_key(conn, name="faults", role=Role.ADMIN))
    server = procs.start(
        "serve",
        db_url,
        "serve",
        job_batch_size=50,
        job_batch_pause_seconds=0.05,
        job_workers=2,
        pool_timeout_seconds=2,
    )
    client = httpx.Client(base_url=server.url or "", headers={"X-API-Key": key})
    response = client.post(START)
    assert response.status_code == 202, response.text
    job_id = response.json()["data"]["id"]
    wait_progress(db, job_id, 500)
    db.close()
    # Pages cached now (under the pre-job versions) must not be served after the job's bump.
    sample_ids = [str(diamond_id) for diamond_id in sorted(expected)[:: len(expected) // 20]]
    for path in catalog_paths(sample_ids):
        assert client.get(path).status_code == 200

    private_pg.stop()
    down_at = time.monotonic()
    down: dict[str, list[tuple[int, float, Any]]] = {}
    paths = [
        "/readyz",
        "/api/v2/dataset-versions",
        "/api/v2/pricing-rules",
        f"{JOBS}/{job_id}",
        "/api/v2/diamonds?sort=carats&limit=7",  # a catalog miss (a cached page is still served)
    ]
    with ThreadPoolExecutor(max_workers=len(paths) + 1) as pool:
        while time.monotonic() - down_at < DOWN_SECONDS:  # rounds of parallel requests
            round_paths = [*paths, "/healthz"]
            for path, answer in zip(
                round_paths, pool.map(lambda p: probe(client, p), round_paths), strict=True
            ):
                down.setdefault(path, []).append(answer)
    for path in paths:
        for status, seconds, body in down[path]:
            assert status == 503, (path, status, body)
            assert body["error"]["code"] == "database_unavailable", body
            assert seconds < ANSWER_WITHIN, (path, seconds)
    assert {status for status, _, _ in down["/healthz"]} == {200}
    slowest = max(seconds for path in paths for _, seconds, _ in down[path])

    private_pg.start()
    up_at = time.monotonic()
    recovery: list[tuple[str, int, float, Any]] = []

    def recovered() -> bool:
        answers = [(path, *probe(client, path)) for path in paths]
        recovery.extend(answers)
        return all(status == 200 for _, status, _, _ in answers)

    wait_until(recovered, timeout=60, interval=0.05, what="the API to recover")
    recovered_after = time.monotonic() - up_at
    assert {status for _, status, _, _ in recovery} <= {200, 503}, recovery
    report(
        f"postgres down {up_at - down_at:.1f}s:"
        f" {sum(len(v) for v in down.values())} requests,"
        f" all 503 / healthz 200 (slowest answer {slowest:.2f}s);"
        f" API recovered {recovered_after:.2f}s after the restart, no process restart"
    )

    db = psycopg.connect(db_url, autocommit=True, row_factory=dict_row)
    try:
        # Both LISTEN connections (the job runner's and the catalog cache's) came back.
        listening = (
            "SELECT count(*) FILTER (WHERE query LIKE 'LISTEN reapply_jobs%%') AS runner,"
            " count(*) FILTER (WHERE application_name = %s) AS cache"
            " FROM pg_stat_activity WHERE datname = current_database()"
        )
        wait_until(
            lambda: (
                db.execute(listening, (LISTENER_APPLICATION_NAME,)).fetchone()
                == {"runner": 1, "cache": 1}
            ),
            timeout=30,
            what="the LISTEN connections to come back",
        )
        row = wait_job_db(db, job_id, ("completed", "failed"), timeout=60)
        if row["status"] == "failed":
            report(f"job failed cleanly ({row['error'].splitlines()[0]}); resuming it with the CLI")
            env = {**os.environ, "DATABASE_URL": db_url, "DIAMOND_DATA_DIR": str(tmp_path)}
            done = subprocess.run(
                [str(SCRIPT), "resume", job_id, "--wait"],
                env=env,
                capture_output=True,
                timeout=120,
                cwd=tmp_path,
            )
            assert done.returncode == 0, done.stderr.decode()
            row = job_row(db, job_id)
        else:
            report(f"job resumed by itself (attempts {row['attempts']})")
        assert row["status"] == "completed" and row["error"] is None
        assert row["processed_diamonds"] == row["total_diamonds"] == len(expected)
        assert row["updated_diamonds"] == len(changed)
        snapshots = db.execute(
            "SELECT count(*) AS n FROM pricing_reapply_snapshots WHERE job_id = %s", (job_id,)
        ).fetchone()
        assert snapshots == {"n": len(changed)}
        assert {k: v for k, v in outputs(pricing_state(db)).items() if k in expected} == expected
        final = {str(k): v for k, v in outputs(pricing_state(db)).items()}
        for path in catalog_paths(sample_ids):
            response = client.get(path)
            assert response.status_code == 200, response.text
            for diamond in listed(response.json()["data"]):
                assert shown(diamond) == final[diamond["id"]], (path, response.headers)
        assert server.popen.poll() is None  # the same process throughout
    finally:
        db.close()
        client.close()

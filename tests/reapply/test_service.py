"""The service entry points the rule endpoints and the dashboard call, inside their transactions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest

from diamond_pricing.db import DictConn
from diamond_pricing.errors import ApiError
from diamond_pricing.reapply.models import Job, TriggerType
from diamond_pricing.reapply.revert import create_revert_job
from diamond_pricing.reapply.runner import Runner
from diamond_pricing.reapply.service import create_job, rules_freshness
from diamond_pricing.settings import Settings
from tests.reapply.conftest import wait_job_db
from tests.support import run_async

DB = psycopg.Connection[dict[str, Any]]


def run_pending(db_url: str, settings: Settings) -> None:
    """Run whatever job is pending to its end, in this process."""
    import asyncio

    from diamond_pricing.reapply.executor import JobExecution

    async def work() -> None:
        runner = Runner(db_url, settings)
        job = await runner.claim()
        assert job is not None
        await JobExecution(db_url, settings, job, runner.owner, asyncio.Event()).run()

    asyncio.run(work())


def test_rule_change_and_job_creation_commit_or_fail_together(
    db: DB, db_url: str, settings: Settings, seeded: int
) -> None:
    rule = db.execute("SELECT id FROM pricing_rules WHERE priority = 22").fetchone()
    assert rule is not None

    async def change_and_start(conn: DictConn) -> Job:
        await conn.execute(
            "UPDATE pricing_rules SET margin_modifier = 7.5 WHERE id = %s", (rule["id"],)
        )
        return await create_job(
            conn,
            settings=settings,
            trigger_type=TriggerType.RULE_UPDATE,
            triggered_by="ops",
            triggered_by_rule_id=rule["id"],
        )

    job = run_async(db_url, change_and_start)
    frozen = {r["id"]: r for r in (job.rules_snapshot or {})["rules"]}
    assert Decimal(frozen[str(rule["id"])]["margin_modifier"]) == Decimal("7.5")
    assert job.trigger_type is TriggerType.RULE_UPDATE and job.triggered_by_rule_id == rule["id"]

    async def change_again(conn: DictConn) -> Job:
        await conn.execute(
            "UPDATE pricing_rules SET margin_modifier = 9 WHERE id = %s", (rule["id"],)
        )
        return await create_job(conn, settings=settings, triggered_by="ops")

    with pytest.raises(ApiError) as raised:
        run_async(db_url, change_again)
    assert raised.value.status == 409 and raised.value.details["job"]["id"] == str(job.id)
    row = db.execute("SELECT margin_modifier FROM pricing_rules WHERE id = %s", (rule["id"],))
    assert row.fetchone() == {"margin_modifier": Decimal("7.50")}  # rolled back with the 409


def test_rules_freshness_follows_jobs_rule_changes_and_reverts(
    db: DB, db_url: str, settings: Settings, seeded: int
) -> None:
    def fresh() -> Any:
        return run_async(db_url, lambda conn: rules_freshness(conn, settings=settings))

    assert fresh().stale is True  # never reapplied
    job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
    run_pending(db_url, settings)
    state = fresh()
    assert state.stale is False and state.last_job_id == job.id

    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    assert fresh().stale is True
    job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
    run_pending(db_url, settings)
    assert fresh().stale is False

    run_async(db_url, lambda conn: create_revert_job(conn, job_id=job.id, triggered_by="t"))
    run_pending(db_url, settings)
    assert wait_job_db(db, job.id, ("reverted",))["status"] == "reverted"
    state = fresh()
    assert state.stale is True and state.last_job_id != job.id


def test_pending_job_is_picked_up_when_a_runner_starts(
    db: DB, db_url: str, settings: Settings, seeded: int, serve: Any
) -> None:
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
    assert wait_job_db(db, job.id, ("pending",))["attempts"] == 0
    with serve():
        row = wait_job_db(db, job.id, timeout=20)
    assert row["attempts"] == 1 and row["updated_diamonds"] > 0


def test_runner_wakes_on_notify_long_before_its_next_poll(
    db: DB, db_url: str, settings: Settings, seeded: int, serve: Any
) -> None:
    import time

    with serve(job_poll_seconds=60):
        time.sleep(0.5)  # the runner has looked once and is now waiting
        started = time.monotonic()
        job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
        wait_job_db(db, job.id, timeout=20)
        assert time.monotonic() - started < 10

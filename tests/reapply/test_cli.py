"""The reapply commands: start and wait, list, show, revert, cancel, resume, prune."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from diamond_pricing.cli import app
from diamond_pricing.settings import Settings
from tests.reapply.conftest import (
    FAST,
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    pricing_text,
)

DB = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def cli(db_url: str) -> Any:
    """Invoke ``diamond-pricing`` in-process against the test database."""
    runner = CliRunner()
    env = {"DATABASE_URL": db_url, **{f"DIAMOND_{k.upper()}": str(v) for k, v in FAST.items()}}

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return invoke


def test_reapply_wait_revert_wait_round_trip(
    db: DB, db_url: str, settings: Settings, seeded: int, cli: Any
) -> None:
    before = pricing_text(db)
    before_outputs = outputs(pricing_state(db))
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))

    result = cli("reapply", "--feed", "atlas", "--stone-type", "lab", "--wait")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip().splitlines()[0]
    row = job_row(db, job_id)
    assert row["status"] == "completed" and row["triggered_by"].startswith("cli")
    assert row["scope"] == {"feeds": ["atlas"], "stone_types": ["lab"]}
    atlas_lab = {
        r["id"]
        for r in db.execute(
            "SELECT id FROM diamonds WHERE availability = 'available' AND feed = 'atlas'"
            " AND stone_type = 'lab'"
        ).fetchall()
    }
    after = outputs(pricing_state(db))
    for key, value in after.items():
        assert value == (expected[key] if key in atlas_lab else before_outputs[key])

    listing = cli("jobs")
    assert listing.exit_code == 0 and job_id in listing.stdout and "completed" in listing.stdout
    shown = cli("job", job_id)
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["updated_diamonds"] == row["updated_diamonds"]

    result = cli("cancel", job_id)
    assert result.exit_code == 1 and "only active jobs" in result.output
    result = cli("resume", job_id)
    assert result.exit_code == 1 and "only failed jobs" in result.output

    result = cli("revert", job_id, "--wait")
    assert result.exit_code == 0, result.output
    assert pricing_text(db) == before
    assert job_row(db, job_id)["status"] == "reverted"
    result = cli("revert", job_id)
    assert result.exit_code == 1 and "already been reverted" in result.output


def test_reapply_refuses_below_cost_unless_allowed(db: DB, seeded: int, cli: Any) -> None:
    db.execute("INSERT INTO pricing_rules (priority, margin_modifier) VALUES (0, -95)")
    result = cli("reapply")
    assert result.exit_code == 1 and "below cost" in result.output
    assert db.execute("SELECT count(*) AS n FROM pricing_reapply_jobs").fetchone() == {"n": 0}
    result = cli("reapply", "--allow-below-cost", "--wait")
    assert result.exit_code == 0, result.output


def test_wait_exits_non_zero_when_the_job_fails(db: DB, db_url: str, seeded: int) -> None:
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    env = {
        "DATABASE_URL": db_url,
        **{f"DIAMOND_{k.upper()}": str(v) for k, v in FAST.items()},
        "DIAMOND_JOB_LOCK_TIMEOUT_SECONDS": "0.1",
        "DIAMOND_JOB_MAX_RETRIES": "0",
    }
    with psycopg.connect(db_url) as blocker:
        blocker.execute("SELECT 1 FROM diamonds WHERE availability = 'available' FOR UPDATE")
        result = CliRunner().invoke(app, ["reapply", "--wait"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "failed" in result.output and "lock timeout" in result.output


def test_prune_snapshots_makes_old_jobs_unrevertible(
    db: DB, db_url: str, settings: Settings, seeded: int, cli: Any
) -> None:
    from diamond_pricing.reapply.service import cancel_job, create_job
    from tests.support import run_async

    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    job = run_async(db_url, lambda conn: create_job(conn, settings=settings, triggered_by="t"))
    run_async(db_url, lambda conn: cancel_job(conn, job_id=job.id))  # pending: stops at once
    assert job_row(db, job.id)["status"] == "cancelled"
    result = cli("resume", str(job.id))
    assert result.exit_code == 1 and "only failed jobs" in result.output

    result = cli("reapply", "--wait")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert cli("prune-snapshots", "--older-than", "1").exit_code == 0
    assert job_row(db, job_id)["snapshots_pruned_at"] is None
    result = cli("prune-snapshots", "--older-than", "0")
    assert result.exit_code == 0 and "pruned" in result.output
    assert job_row(db, job_id)["snapshots_pruned_at"] is not None
    count = db.execute("SELECT count(*) AS n FROM pricing_reapply_snapshots").fetchone()
    assert count == {"n": 0}
    result = cli("revert", job_id)
    assert result.exit_code == 1 and "pruned" in result.output

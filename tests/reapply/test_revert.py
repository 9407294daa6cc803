"""Revert: a background job that restores the pre-job prices, stale-safe, with clear refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from tests.reapply.conftest import (
    JOBS,
    SLOW,
    assert_bumped_once,
    change_rules,
    job_row,
    pricing_text,
    versions,
    wait_job,
    wait_progress,
)

DB = psycopg.Connection[dict[str, Any]]
START = "/api/v2/pricing-rules/reapply"


def run_job(client: httpx.Client) -> dict[str, Any]:
    """Start a job over everything and wait for it to complete."""
    response = client.post(START)
    assert response.status_code == 202, response.text
    return wait_job(client, response.json()["data"]["id"])


def test_revert_restores_the_pre_job_pricing_byte_for_byte(
    db: DB, seeded: int, admin: httpx.Client
) -> None:
    before = pricing_text(db)
    change_rules(db)
    job = run_job(admin)
    assert job["updated_diamonds"] > 0
    assert pricing_text(db) != before
    versions_mid = versions(db)

    response = admin.post(f"{JOBS}/{job['id']}/revert")
    assert response.status_code == 202, response.text
    revert = response.json()["data"]
    assert revert["kind"] == "revert" and revert["reverts_job_id"] == job["id"]
    assert revert["trigger_type"] == "revert" and revert["triggered_by"] == "admin-tests"
    assert revert["total_diamonds"] == job["updated_diamonds"]
    assert revert["scope"] is None and revert["rules_snapshot"] is None
    revert = wait_job(admin, revert["id"])

    assert pricing_text(db) == before
    assert revert["updated_diamonds"] == revert["processed_diamonds"] == job["updated_diamonds"]
    assert revert["skipped_diamonds"] == 0 and revert["revertible"] is False
    assert revert["feeds_affected"] == job["feeds_affected"]
    original = admin.get(f"{JOBS}/{job['id']}").json()["data"]
    assert original["status"] == "reverted" and original["reverted_at"]
    assert original["reverted_by_job_id"] == revert["id"] and original["revertible"] is False
    assert_bumped_once(versions_mid, versions(db), job["feeds_affected"])

    response = admin.post(f"{JOBS}/{job['id']}/revert")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_revertible"
    assert "already been reverted" in response.json()["error"]["message"]
    response = admin.post(f"{JOBS}/{revert['id']}/revert")
    assert response.status_code == 400  # a revert job is not revertible itself


def test_revert_skips_diamonds_changed_after_the_job_and_lists_them(
    db: DB, seeded: int, admin: httpx.Client
) -> None:
    before = pricing_text(db)
    change_rules(db)
    job = run_job(admin)
    changed = [
        row["diamond_id"]
        for row in db.execute(
            "SELECT diamond_id FROM pricing_reapply_snapshots WHERE job_id = %s"
            " ORDER BY diamond_id LIMIT 6",
            (job["id"],),
        ).fetchall()
    ]
    # Later writers: four repriced by hand, one with a new cost but the same outputs, one sold
    # and repriced (a revert restores by outputs, not by availability).
    db.execute(
        "UPDATE diamonds SET price_model_price = price_model_price + 1 WHERE id = ANY(%s)",
        (changed[:4],),
    )
    db.execute("UPDATE diamonds SET feed_price = feed_price + 1 WHERE id = %s", (changed[4],))
    db.execute(
        "UPDATE diamonds SET availability = 'sold', rating = NULL WHERE id = %s", (changed[5],)
    )
    later = pricing_text(db)

    revert = wait_job(admin, admin.post(f"{JOBS}/{job['id']}/revert").json()["data"]["id"])
    assert revert["skipped_diamonds"] == 6
    assert revert["updated_diamonds"] == job["updated_diamonds"] - 6
    now = pricing_text(db)
    for key, value in now.items():
        assert value == (later[key] if key in changed else before[key]), key

    rows = admin.get(f"{JOBS}/{revert['id']}/changes", params={"limit": 1000}).json()["data"]
    skipped = {row["diamond_id"] for row in rows["changes"] if row["skipped"]}
    assert skipped == {str(key) for key in changed}
    for row in rows["changes"]:
        if row["skipped"]:
            assert row["old_price_model_price"] == row["new_price_model_price"]
    original = admin.get(f"{JOBS}/{job['id']}/changes", params={"limit": 1000}).json()["data"]
    outcomes = {row["diamond_id"]: row["revert_outcome"] for row in original["changes"]}
    assert {key for key, value in outcomes.items() if value == "skipped"} == skipped
    assert set(outcomes.values()) == {"restored", "skipped"}


def test_revert_refuses_running_jobs_and_conflicts_with_active_ones(
    db: DB, seeded: int, serve: Callable[..., Any], admin_key: str
) -> None:
    change_rules(db)
    with (
        serve(**SLOW) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=30) as client,
    ):
        first = run_job(client)
        db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
        second = client.post(START).json()["data"]
        wait_progress(db, second["id"], 100)

        response = client.post(f"{JOBS}/{second['id']}/revert")
        assert response.status_code == 400  # still running: cancel it or wait
        assert response.json()["error"]["code"] == "not_revertible"
        response = client.post(f"{JOBS}/{first['id']}/revert")
        assert response.status_code == 409  # another job is active
        assert response.json()["error"]["details"]["job"]["id"] == second["id"]
        assert job_row(db, first["id"])["reverted_by_job_id"] is None

        client.post(f"{JOBS}/{second['id']}/cancel")
        wait_job(client, second["id"], ("cancelled",))
        response = client.post(f"{JOBS}/{first['id']}/revert")
        assert response.status_code == 202


def test_pruned_job_is_no_longer_revertible(db: DB, seeded: int, admin: httpx.Client) -> None:
    from diamond_pricing.reapply.service import prune_snapshots
    from tests.support import run_async

    change_rules(db)
    job = run_job(admin)
    db.execute(
        "UPDATE pricing_reapply_jobs SET completed_at = now() - interval '10 days' WHERE id = %s",
        (job["id"],),
    )
    db_url = db.info.dsn
    assert run_async(db_url, lambda conn: prune_snapshots(conn, older_than_days=30)) == []
    pruned = run_async(db_url, lambda conn: prune_snapshots(conn, older_than_days=5))
    assert [(str(job_id), count) for job_id, count in pruned] == [
        (job["id"], job["updated_diamonds"])
    ]
    assert admin.get(f"{JOBS}/{job['id']}").json()["data"]["revertible"] is False
    response = admin.post(f"{JOBS}/{job['id']}/revert")
    assert response.status_code == 400 and "pruned" in response.json()["error"]["message"]
    assert admin.get(f"{JOBS}/{job['id']}/changes").status_code == 410

"""recalculate_pricing on a rule change creates the reapply job in the same transaction."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from tests.support import make_settings, running_server

RULES = "/api/v2/pricing-rules"
JOBS = "/api/v2/pricing-rules/reapply/jobs"
Conn = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def idle_admin(db_url: str, admin_key: str) -> Any:
    """An admin client of a server that runs no jobs, so created jobs stay pending."""
    with (
        running_server(make_settings(db_url, run_jobs=False), db_url) as url,
        httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": admin_key}) as http,
    ):
        yield http


def job_row(db: Conn, job_id: str) -> dict[str, Any]:
    row = db.execute("SELECT * FROM pricing_reapply_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def test_create_with_recalculate_starts_a_job_that_froze_the_new_rule(
    idle_admin: httpx.Client, db: Conn
) -> None:
    response = idle_admin.post(
        RULES,
        json={
            "priority": 1,
            "feed": "atlas",
            "margin_modifier": "2.5",
            "recalculate_pricing": True,
        },
    )
    assert response.status_code == 201
    body = response.json()["data"]
    job = job_row(db, body["reapply_job_id"])
    assert (job["trigger_type"], job["triggered_by"]) == ("rule_create", "admin-tests")
    assert str(job["triggered_by_rule_id"]) == body["id"]
    frozen_ids = {rule["id"] for rule in job["rules_snapshot"]["rules"]}
    assert body["id"] in frozen_ids


def test_update_and_delete_with_recalculate_record_their_trigger(
    idle_admin: httpx.Client, db: Conn
) -> None:
    rule_id = idle_admin.get(RULES).json()["data"]["rules"][0]["id"]
    updated = idle_admin.put(
        f"{RULES}/{rule_id}", json={"margin_modifier": 5, "recalculate_pricing": True}
    )
    assert updated.status_code == 200
    assert job_row(db, updated.json()["data"]["reapply_job_id"])["trigger_type"] == "rule_update"
    db.execute("UPDATE pricing_reapply_jobs SET status = 'completed', completed_at = now()")
    deleted = idle_admin.delete(f"{RULES}/{rule_id}", params={"recalculate_pricing": "true"})
    assert deleted.status_code == 200
    job = job_row(db, deleted.json()["data"]["reapply_job_id"])
    assert job["trigger_type"] == "rule_delete"
    assert rule_id not in {rule["id"] for rule in job["rules_snapshot"]["rules"]}


def test_rule_change_is_rolled_back_when_a_job_is_already_active(
    idle_admin: httpx.Client, db: Conn
) -> None:
    first = idle_admin.post(
        RULES, json={"priority": 1, "margin_modifier": 1, "recalculate_pricing": True}
    )
    assert first.status_code == 201
    rule_id = idle_admin.get(RULES).json()["data"]["rules"][1]["id"]
    before = idle_admin.get(f"{RULES}?include_inactive=true").json()["data"]
    conflict = idle_admin.put(
        f"{RULES}/{rule_id}", json={"margin_modifier": 9, "recalculate_pricing": True}
    )
    assert conflict.status_code == 409
    assert (
        conflict.json()["error"]["details"]["job"]["id"] == first.json()["data"]["reapply_job_id"]
    )
    created = idle_admin.post(
        RULES, json={"priority": 2, "margin_modifier": 1, "recalculate_pricing": True}
    )
    assert created.status_code == 409
    assert idle_admin.get(f"{RULES}?include_inactive=true").json()["data"] == before
    assert db.execute("SELECT count(*) AS n FROM pricing_reapply_jobs").fetchone() == {"n": 1}


def test_without_recalculate_no_job_is_created(idle_admin: httpx.Client, db: Conn) -> None:
    response = idle_admin.post(RULES, json={"priority": 1, "margin_modifier": 1})
    assert response.json()["data"]["reapply_job_id"] is None
    assert db.execute("SELECT count(*) AS n FROM pricing_reapply_jobs").fetchone() == {"n": 0}

"""End to end over HTTP: preview, start, progress, history, changes, errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import psycopg

from diamond_pricing.auth.keys import Role
from diamond_pricing.settings import Settings
from tests.reapply.conftest import (
    JOBS,
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    versions,
    wait_job,
)

DB = psycopg.Connection[dict[str, Any]]
START = "/api/v2/pricing-rules/reapply"
PREVIEW = "/api/v2/pricing-rules/reapply/preview"
JOB_FIELDS = {
    "id",
    "kind",
    "status",
    "reverts_job_id",
    "scope",
    "total_diamonds",
    "processed_diamonds",
    "updated_diamonds",
    "failed_diamonds",
    "skipped_diamonds",
    "feeds_affected",
    "error",
    "trigger_type",
    "triggered_by",
    "triggered_by_rule_id",
    "rules_snapshot",
    "revertible",
    "reverted_by_job_id",
    "rate_per_second",
    "eta_seconds",
    "created_at",
    "started_at",
    "completed_at",
    "reverted_at",
}
PREVIEW_COUNTS = {
    "total_diamonds",
    "will_change",
    "price_up",
    "price_down",
    "unchanged",
    "below_cost",
    "value_before",
    "value_after",
}


def all_changes(client: httpx.Client, job_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every change row of a job, following next_cursor."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 400, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{JOBS}/{job_id}/changes", params=query)
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        rows += page["changes"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def test_job_reprices_every_available_diamond_exactly_like_the_engine(
    db: DB, db_url: str, settings: Settings, seeded: int, admin: httpx.Client
) -> None:
    before = pricing_state(db)
    versions_before = versions(db)
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    old = outputs(before)
    changed = {key for key, value in expected.items() if value != old[key]}
    changed_feeds = sorted({before[key][0] for key in changed})
    assert 0 < len(changed) < len(expected)

    response = admin.post(PREVIEW)
    assert response.status_code == 200, response.text
    impact = response.json()["data"]
    assert impact["total_diamonds"] == len(expected)
    assert impact["will_change"] == len(changed)
    assert impact["unchanged"] == len(expected) - len(changed)
    assert impact["price_up"] == sum(1 for k in expected if expected[k][0] > old[k][0])
    assert impact["price_down"] == sum(1 for k in expected if expected[k][0] < old[k][0])
    assert impact["below_cost"] == 0
    assert Decimal(impact["value_before"]) == sum(old[k][0] for k in expected)
    assert Decimal(impact["value_after"]) == sum(v[0] for v in expected.values())
    assert sum(row["will_change"] for row in impact["by_feed"]) == len(changed)
    assert {row["feed"] for row in impact["by_feed"] if row["will_change"]} == set(changed_feeds)
    assert sum(row["total_diamonds"] for row in impact["by_stone_type"]) == len(expected)
    assert set(impact["by_feed"][0]) >= PREVIEW_COUNTS and "feed" in impact["by_feed"][0]

    response = admin.post(START)  # no body at all, as the plan's client sends
    assert response.status_code == 202, response.text
    started = response.json()["data"]
    assert set(started) == JOB_FIELDS
    assert started["kind"] == "reapply" and started["status"] in ("pending", "running")
    assert started["trigger_type"] == "manual" and started["triggered_by"] == "admin-tests"
    assert started["total_diamonds"] == len(expected)
    assert started["scope"] == {"feeds": None, "stone_types": None}
    active_rules = db.execute("SELECT count(*) AS n FROM pricing_rules WHERE active").fetchone()
    assert active_rules is not None
    assert len(started["rules_snapshot"]["rules"]) == active_rules["n"]

    job = wait_job(admin, started["id"])
    after = pricing_state(db)
    for key, value in after.items():
        if key in expected:
            assert value[3:6] == expected[key], key
            assert value[:3] == before[key][:3] and value[6] == before[key][6]
        else:
            assert value == before[key], key  # not available: untouched

    assert job["processed_diamonds"] == job["total_diamonds"] == len(expected)
    assert job["updated_diamonds"] == len(changed) == impact["will_change"]
    assert job["failed_diamonds"] == 0 and job["skipped_diamonds"] == 0
    assert job["feeds_affected"] == changed_feeds
    assert job["revertible"] is True and job["error"] is None
    assert job["rate_per_second"] > 0 and job["eta_seconds"] is None
    assert job["started_at"] and job["completed_at"]
    versions_after = versions(db)
    for feed in set(versions_before) | set(versions_after):
        bump = 1 if feed in changed_feeds else 0
        assert versions_after.get(feed, 0) == versions_before.get(feed, 0) + bump, feed

    snapshots = db.execute(
        "SELECT * FROM pricing_reapply_snapshots WHERE job_id = %s", (job["id"],)
    ).fetchall()
    assert len(snapshots) == len(changed)
    engine = engine_now(db_url, settings)
    for snap in snapshots:
        key = snap["diamond_id"]
        assert (snap["old_price_model_price"], snap["old_markup_ratio"], snap["old_rating"]) == old[
            key
        ]
        assert (
            snap["new_price_model_price"],
            snap["new_markup_ratio"],
            snap["new_rating"],
        ) == expected[key]
        rule = engine.matching_rule(
            stone_type=_stone_type(db, key), feed=snap["feed"], feed_price=snap["feed_price"]
        )
        assert snap["rule_id"] == (rule.id if rule else None)

    rows = all_changes(admin, job["id"])
    assert [row["diamond_id"] for row in rows] == sorted(str(key) for key in changed)
    assert all(row["revert_outcome"] is None and row["skipped"] is False for row in rows)
    atlas = all_changes(admin, job["id"], feed="atlas")
    assert {row["diamond_id"] for row in atlas} == {
        str(key) for key in changed if before[key][0] == "atlas"
    }
    response = admin.get(f"{JOBS}/{job['id']}/changes", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert len(table) == len(changed)
    assert {row["diamond_id"] for row in table} == {str(key) for key in changed}

    listed = admin.get(JOBS).json()["data"]
    assert [j["id"] for j in listed["jobs"]] == [job["id"]] and listed["next_cursor"] is None


def _stone_type(db: DB, diamond_id: Any) -> Any:
    from diamond_pricing.pricing.engine import StoneType

    row = db.execute("SELECT stone_type FROM diamonds WHERE id = %s", (diamond_id,)).fetchone()
    assert row is not None
    return StoneType(row["stone_type"])


def test_scoped_job_reprices_only_its_feeds_and_stone_types(
    db: DB, db_url: str, settings: Settings, seeded: int, admin: httpx.Client
) -> None:
    before = pricing_state(db)
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 2")
    scope = {"feeds": ["northstar", "atlas"], "stone_types": ["natural"]}
    response = admin.post(START, json={"scope": scope})
    assert response.status_code == 202, response.text
    job = wait_job(admin, response.json()["data"]["id"])
    assert job["scope"] == {"feeds": ["atlas", "northstar"], "stone_types": ["natural"]}
    in_scope = {
        row["id"]
        for row in db.execute(
            "SELECT id FROM diamonds WHERE availability = 'available'"
            " AND feed IN ('atlas', 'northstar') AND stone_type = 'natural'"
        ).fetchall()
    }
    expected = engine_outputs(db, engine_now(db_url, settings))
    after = pricing_state(db)
    for key, value in after.items():
        if key in in_scope:
            assert value[3:6] == expected[key]
        else:
            assert value == before[key]
    assert job["processed_diamonds"] == len(in_scope) == job["updated_diamonds"]
    assert job["feeds_affected"] == ["atlas", "northstar"]


def test_start_refuses_below_cost_prices_unless_allowed(
    db: DB, seeded: int, admin: httpx.Client
) -> None:
    db.execute(
        "INSERT INTO pricing_rules (priority, stone_type, price_min, margin_modifier)"
        " VALUES (1, 'natural', 5000, -60)"
    )
    impact = admin.post(PREVIEW, json={"scope": {"stone_types": ["natural"]}}).json()["data"]
    assert impact["below_cost"] > 0
    response = admin.post(START, json={})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "below_cost"
    assert error["details"]["below_cost"] == impact["below_cost"]
    assert db.execute("SELECT count(*) AS n FROM pricing_reapply_jobs").fetchone() == {"n": 0}

    response = admin.post(START, json={"allow_below_cost": True})
    assert response.status_code == 202
    job = wait_job(admin, response.json()["data"]["id"])
    below = db.execute(
        "SELECT count(*) AS n FROM diamonds WHERE availability = 'available'"
        " AND price_model_price < feed_price"
    ).fetchone()
    assert below == {"n": impact["below_cost"]} and job["status"] == "completed"


def test_start_while_a_job_is_active_is_409_with_that_job(
    db: DB, seeded: int, serve: Callable[..., Any], admin_key: str
) -> None:
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    with (
        serve(run_jobs=False) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": admin_key}) as client,
    ):
        first = client.post(START).json()["data"]
        response = client.post(START)
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "job_active"
        assert error["details"]["job"]["id"] == first["id"]
        assert error["details"]["job"]["status"] == "pending"
        preview = client.post(PREVIEW)
        assert preview.status_code == 200  # preview never conflicts


def test_job_errors_and_auth(
    db: DB, seeded: int, admin: httpx.Client, make_key: Callable[..., str]
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert admin.get(f"{JOBS}/{unknown}").status_code == 404
    assert admin.get(f"{JOBS}/{unknown}/changes").status_code == 404
    assert admin.post(f"{JOBS}/{unknown}/revert").status_code == 404
    assert admin.post(f"{JOBS}/{unknown}/cancel").status_code == 404
    assert admin.post(f"{JOBS}/{unknown}/resume").status_code == 404
    assert admin.get(f"{JOBS}/not-a-uuid").status_code == 422
    assert admin.get(JOBS, params={"cursor": "garbage"}).status_code == 422
    response = admin.post(START, json={"scope": {"stone_types": ["opal"]}})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"].startswith("scope.stone_types")
    assert admin.post(START, json={"bogus": 1}).status_code == 422

    job = wait_job(admin, admin.post(START).json()["data"]["id"])
    assert job["updated_diamonds"] == 0 and job["revertible"] is False  # nothing changed
    response = admin.post(f"{JOBS}/{job['id']}/cancel")
    assert response.status_code == 400 and response.json()["error"]["code"] == "job_not_active"
    response = admin.post(f"{JOBS}/{job['id']}/resume")
    assert response.status_code == 400 and response.json()["error"]["code"] == "job_not_failed"
    response = admin.post(f"{JOBS}/{job['id']}/revert")
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_revertible"

    reader = {"X-API-Key": make_key(Role.READ, "reader")}
    assert admin.get(JOBS, headers={"X-API-Key": ""}).status_code == 401
    assert admin.post(START, headers=reader).status_code == 403
    assert admin.get(JOBS, headers=reader).status_code == 403
    assert admin.post(PREVIEW, headers=reader).status_code == 403


def test_job_history_is_newest_first_with_keyset_pages(
    db: DB, seeded: int, admin: httpx.Client
) -> None:
    ids = []
    for _ in range(5):
        ids.append(wait_job(admin, admin.post(START).json()["data"]["id"])["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.get(JOBS, params=params).json()["data"]
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert job_row(db, ids[0])["attempts"] == 1

"""Jobs under contention: single flight, cancel, failure and resume, frozen rules, live ingest."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from diamond_pricing.reapply.compile import RuleSet
from diamond_pricing.settings import Settings
from tests.reapply.conftest import (
    JOBS,
    SLOW,
    assert_bumped_once,
    change_rules,
    engine_now,
    engine_outputs,
    job_row,
    outputs,
    pricing_state,
    pricing_text,
    versions,
    wait_job,
    wait_progress,
)

DB = psycopg.Connection[dict[str, Any]]
START = "/api/v2/pricing-rules/reapply"


def snapshot_ids(db: DB, job_id: Any) -> set[Any]:
    """Diamonds a job wrote snapshots for."""
    rows = db.execute(
        "SELECT diamond_id FROM pricing_reapply_snapshots WHERE job_id = %s", (job_id,)
    ).fetchall()
    return {row["diamond_id"] for row in rows}


def test_twenty_concurrent_starts_give_exactly_one_job(
    db: DB, seeded: int, server: str, admin_key: str
) -> None:
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    barrier = threading.Barrier(20)

    def start(_: int) -> httpx.Response:
        with httpx.Client(base_url=server, headers={"X-API-Key": admin_key}, timeout=30) as c:
            barrier.wait()
            return c.post(START)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(start, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [409] * 19, [r.text for r in responses if r.status_code != 409]
    winner = next(r for r in responses if r.status_code == 202).json()["data"]["id"]
    for response in responses:
        if response.status_code == 409:
            job = response.json()["error"]["details"]["job"]
            assert job is None or job["id"] == winner
    assert db.execute("SELECT count(*) AS n FROM pricing_reapply_jobs").fetchone() == {"n": 1}


def test_cancel_stops_between_batches_and_the_partial_job_reverts(
    db: DB, seeded: int, serve: Callable[..., Any], admin_key: str
) -> None:
    before = pricing_text(db)
    versions_before = versions(db)
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    with (
        serve(**SLOW) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=30) as client,
    ):
        job = client.post(START).json()["data"]
        wait_progress(db, job["id"], 400)
        response = client.post(f"{JOBS}/{job['id']}/cancel")
        assert response.status_code == 202 and response.json()["data"]["status"] == "running"
        job = wait_job(client, job["id"], ("cancelled",))
        assert 400 <= job["processed_diamonds"] < job["total_diamonds"]
        assert job["updated_diamonds"] == len(snapshot_ids(db, job["id"]))
        assert job["revertible"] is True
        changed = {key for key, value in pricing_text(db).items() if value != before[key]}
        assert changed == snapshot_ids(db, job["id"])
        assert_bumped_once(versions_before, versions(db), job["feeds_affected"])

        revert = client.post(f"{JOBS}/{job['id']}/revert").json()["data"]
        revert = wait_job(client, revert["id"])
        assert revert["updated_diamonds"] == job["updated_diamonds"]
        assert pricing_text(db) == before
        assert job_row(db, job["id"])["status"] == "reverted"


def test_failed_job_resumes_from_its_cursor(
    db: DB, db_url: str, settings: Settings, seeded: int, serve: Callable[..., Any], admin_key: str
) -> None:
    before = outputs(pricing_state(db))
    change_rules(db)
    expected = engine_outputs(db, engine_now(db_url, settings))
    blocker = psycopg.connect(db_url, row_factory=dict_row)
    try:
        # Another session holds row locks on a slice of the inventory for longer than the job
        # will wait: each batch that reaches it times out, is retried, and the job fails.
        locked = blocker.execute(
            "SELECT id FROM diamonds WHERE availability = 'available'"
            " AND id > '80000000-0000-0000-0000-000000000000' ORDER BY id LIMIT 5 FOR UPDATE"
        ).fetchall()
        assert len(locked) == 5
        with (
            serve(job_lock_timeout_seconds=0.2, job_max_retries=2, job_batch_size=100) as url,
            httpx.Client(base_url=url, headers={"X-API-Key": admin_key}) as client,
        ):
            job = client.post(START).json()["data"]
            job = wait_job(client, job["id"], ("failed",))
            assert "lock timeout" in job["error"]
            assert job["processed_diamonds"] < job["total_diamonds"]
            assert job["updated_diamonds"] == len(snapshot_ids(db, job["id"]))
            assert job["revertible"] is True
            blocker.rollback()

            response = client.post(f"{JOBS}/{job['id']}/resume")
            assert response.status_code == 202, response.text
            assert response.json()["data"]["status"] == "pending"
            job = wait_job(client, job["id"])
    finally:
        blocker.close()
    assert job["error"] is None and job_row(db, job["id"])["attempts"] == 2
    assert job["processed_diamonds"] == job["total_diamonds"] == len(expected)
    changed = {key for key in expected if expected[key] != before[key]}
    assert job["updated_diamonds"] == len(changed) == len(snapshot_ids(db, job["id"]))
    assert {key: value for key, value in outputs(pricing_state(db)).items() if key in expected} == (
        expected
    )


def test_rules_edited_during_a_job_do_not_change_its_results(
    db: DB, seeded: int, serve: Callable[..., Any], admin_key: str
) -> None:
    change_rules(db)
    with (
        serve(**SLOW) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=30) as client,
    ):
        job = client.post(START).json()["data"]
        frozen = RuleSet.from_json(job["rules_snapshot"]).engine()
        wait_progress(db, job["id"], 200)
        db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 3, rating = 1")
        db.execute("INSERT INTO pricing_rules (priority, margin_modifier) VALUES (0, 20)")
        job = wait_job(client, job["id"])
    expected = engine_outputs(db, frozen)
    assert {k: v for k, v in outputs(pricing_state(db)).items() if k in expected} == expected
    assert job_row(db, job["id"])["rules_snapshot"] == job["rules_snapshot"]


def test_concurrent_ingest_is_never_lost_nor_priced_from_a_stale_cost(
    db: DB, db_url: str, settings: Settings, seeded: int, serve: Callable[..., Any], admin_key: str
) -> None:
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    engine = engine_now(db_url, settings)  # the rules the job freezes and the ingest uses
    stones = db.execute(
        "SELECT id, feed, carats, lab_grown, fancy_color FROM diamonds"
        " WHERE availability = 'available'"
    ).fetchall()
    last_cost: dict[Any, Decimal] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def ingest() -> None:
        # Mimics the feed upsert: locks the rows it touches in id order, then writes the new cost
        # and the engine's outputs for it in one statement, one transaction per call.
        rng = random.Random(5)
        with psycopg.connect(db_url, row_factory=dict_row) as conn:
            while not stop.is_set():
                batch = sorted(rng.sample(stones, 40), key=lambda s: s["id"])
                rows = []
                for stone in batch:
                    cost = Decimal(rng.randrange(10_000, 3_000_000)).scaleb(-2)
                    result = engine.price(
                        feed=stone["feed"],
                        feed_price=cost,
                        carats=stone["carats"],
                        lab_grown=stone["lab_grown"],
                        fancy_color=stone["fancy_color"],
                    )
                    rows.append((stone["id"], cost, result))
                try:
                    conn.execute(
                        "SELECT 1 FROM diamonds WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                        ([r[0] for r in rows],),
                    )
                    conn.execute(
                        "UPDATE diamonds d SET feed_price = u.c, price_model_price = u.p,"
                        " markup_ratio = u.r, rating = u.g, updated_at = now()"
                        " FROM unnest(%s::uuid[], %s::numeric[], %s::numeric[], %s::numeric[],"
                        " %s::int[]) AS u (id, c, p, r, g) WHERE d.id = u.id",
                        (
                            [r[0] for r in rows],
                            [r[1] for r in rows],
                            [r[2].price_model_price for r in rows],
                            [r[2].markup_ratio for r in rows],
                            [r[2].rating for r in rows],
                        ),
                    )
                    conn.commit()
                except psycopg.errors.DeadlockDetected:
                    conn.rollback()
                    continue
                except BaseException as exc:
                    errors.append(exc)
                    return
                for diamond_id, cost, _ in rows:
                    last_cost[diamond_id] = cost

    with (
        serve(**SLOW) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": admin_key}, timeout=30) as client,
    ):
        job = client.post(START).json()["data"]
        worker = threading.Thread(target=ingest)
        worker.start()
        try:
            job = wait_job(client, job["id"])
        finally:
            stop.set()
            worker.join()
    assert not errors, errors
    assert len(last_cost) > 100  # the ingest really ran alongside the job
    state = {row["id"]: row for row in db.execute("SELECT * FROM diamonds").fetchall()}
    for diamond_id, cost in last_cost.items():
        assert state[diamond_id]["feed_price"] == cost  # no lost update
    expected = engine_outputs(db, engine)  # from each diamond's current cost
    actual = {
        key: (row["price_model_price"], row["markup_ratio"], row["rating"])
        for key, row in state.items()
        if key in expected
    }
    assert actual == expected  # no price from a stale cost
    snaps = db.execute(
        "SELECT s.diamond_id, s.feed_price, s.new_price_model_price FROM pricing_reapply_snapshots s"
        " WHERE s.job_id = %s",
        (job["id"],),
    ).fetchall()
    for snap in snaps:  # each snapshot records the cost it priced from
        stone = state[snap["diamond_id"]]
        result = engine.price(
            feed=stone["feed"],
            feed_price=snap["feed_price"],
            carats=stone["carats"],
            lab_grown=stone["lab_grown"],
            fancy_color=stone["fancy_color"],
        )
        assert result.price_model_price == snap["new_price_model_price"]

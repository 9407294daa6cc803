"""Fixtures for reapply tests: a seeded inventory, fast runner settings, job polling helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from diamond_pricing.catalog.demo import DemoOptions, load_demo
from diamond_pricing.db import DictConn
from diamond_pricing.pricing.engine import PricingEngine
from diamond_pricing.pricing.rules import load_engine
from diamond_pricing.settings import Settings
from tests.support import make_settings, run_async, running_server

SEED_COUNT = 3000
JOBS = "/api/v2/pricing-rules/reapply/jobs"
FAST = {
    "job_batch_size": 250,
    "job_poll_seconds": 0.2,
    "job_lease_seconds": 5.0,
    "job_retry_backoff_seconds": 0.05,
}
# Slow enough to observe, cancel or kill a job mid-way (about 2-3 s for SEED_COUNT diamonds).
SLOW = {**FAST, "job_batch_size": 50, "job_batch_pause_seconds": 0.05}

DB = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Runner settings that make tests quick: small batches, fast polling."""
    return make_settings(db_url, **FAST)


def seed(db_url: str, settings: Settings, count: int = SEED_COUNT, seed: int = 7) -> int:
    """Load ``count`` demo diamonds priced with the current rules."""

    async def work(conn: DictConn) -> int:
        engine = await load_engine(conn, settings)
        return await load_demo(conn, DemoOptions(count=count, seed=seed), engine)

    return run_async(db_url, work)


@pytest.fixture
def seeded(db_url: str, settings: Settings) -> int:
    """The test database with SEED_COUNT demo diamonds."""
    return seed(db_url, settings)


@pytest.fixture
def serve(db_url: str) -> Callable[..., AbstractContextManager[str]]:
    """Serve the app with extra settings: ``with serve(job_batch_size=10) as url: ...``."""

    @contextmanager
    def start(**overrides: Any) -> Iterator[str]:
        with running_server(make_settings(db_url, **{**FAST, **overrides}), db_url) as url:
            yield url

    return start


def change_rules(db: DB) -> None:
    """A rule change that reprices some diamonds but not all (atlas lab stones, a bracket)."""
    db.execute(
        "INSERT INTO pricing_rules (priority, feed, stone_type, margin_modifier, rating)"
        " VALUES (1, 'atlas', 'lab', 5.25, 7)"
    )
    db.execute(
        "UPDATE pricing_rules SET margin_modifier = margin_modifier - 1.5, rating = 3"
        " WHERE stone_type = 'natural' AND price_min = 1000"
    )


def engine_now(db_url: str, settings: Settings) -> PricingEngine:
    """An engine over the rules active right now."""
    return run_async(db_url, lambda conn: load_engine(conn, settings))


def pricing_state(db: DB) -> dict[UUID, tuple[Any, ...]]:
    """Every diamond's pricing columns (and what they depend on), by id."""
    rows = db.execute(
        "SELECT id, feed, availability, feed_price, price_model_price, markup_ratio, rating,"
        " price_per_carat FROM diamonds"
    ).fetchall()
    return {
        row["id"]: (
            row["feed"],
            row["availability"],
            row["feed_price"],
            row["price_model_price"],
            row["markup_ratio"],
            row["rating"],
            row["price_per_carat"],
        )
        for row in rows
    }


def engine_outputs(db: DB, engine: PricingEngine) -> dict[UUID, tuple[Any, ...]]:
    """What the engine gives every available diamond: (price, ratio, rating) by id."""
    rows = db.execute(
        "SELECT id, feed, feed_price, carats, lab_grown, fancy_color FROM diamonds"
        " WHERE availability = 'available'"
    ).fetchall()
    out = {}
    for row in rows:
        result = engine.price(
            feed=row["feed"],
            feed_price=row["feed_price"],
            carats=row["carats"],
            lab_grown=row["lab_grown"],
            fancy_color=row["fancy_color"],
        )
        out[row["id"]] = (result.price_model_price, result.markup_ratio, result.rating)
    return out


def outputs(state: dict[UUID, tuple[Any, ...]]) -> dict[UUID, tuple[Any, ...]]:
    """(price, ratio, rating) by id from a pricing_state."""
    return {key: value[3:6] for key, value in state.items()}


def versions(db: DB) -> dict[str, int]:
    """Dataset versions by feed."""
    return {
        row["feed"]: row["version"]
        for row in db.execute("SELECT feed, version FROM dataset_versions").fetchall()
    }


def job_row(db: DB, job_id: Any) -> dict[str, Any]:
    """The job's row straight from the table."""
    row = db.execute("SELECT * FROM pricing_reapply_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def wait_job_db(
    db: DB, job_id: Any, statuses: tuple[str, ...] = ("completed",), timeout: float = 30
) -> dict[str, Any]:
    """Poll the table until the job reaches one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        row = job_row(db, job_id)
        if row["status"] in statuses:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {row['status']} after {timeout}s: {row}")
        time.sleep(0.05)


def wait_job(
    client: httpx.Client,
    job_id: str,
    statuses: tuple[str, ...] = ("completed",),
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll the API until the job reaches one of ``statuses``; returns its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{JOBS}/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"]
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
        time.sleep(0.05)


def wait_progress(db: DB, job_id: Any, at_least: int, timeout: float = 30) -> dict[str, Any]:
    """Poll until the job has processed at least ``at_least`` diamonds (and is still running)."""
    deadline = time.monotonic() + timeout
    while True:
        row = job_row(db, job_id)
        if row["processed_diamonds"] >= at_least:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not progress: {row}")
        time.sleep(0.02)


def pricing_text(db: DB) -> dict[UUID, tuple[str | None, ...]]:
    """Every diamond's pricing columns as PostgreSQL prints them (a byte-for-byte comparison)."""
    rows = db.execute(
        "SELECT id, feed_price::text AS c, price_model_price::text AS p,"
        " markup_ratio::text AS r, rating::text AS g, price_per_carat::text AS ppc FROM diamonds"
    ).fetchall()
    return {row["id"]: (row["c"], row["p"], row["r"], row["g"], row["ppc"]) for row in rows}


def assert_bumped_once(before: dict[str, int], after: dict[str, int], feeds: list[str]) -> None:
    """Exactly one version bump for each of ``feeds`` and none for any other feed."""
    for feed in set(before) | set(after) | set(feeds):
        bump = 1 if feed in feeds else 0
        assert after.get(feed, 0) == before.get(feed, 0) + bump, (feed, before, after)

"""Races over real HTTP against a real ``serve`` process: exactly the documented outcomes.

Concurrent requests are released together by a barrier, each thread on its own connection
(opened beforehand). Documented outcomes: of any set of requests that would each start a job
(a start, a revert, a rule change with ``recalculate_pricing``), exactly one wins (202, or 201
for the rule change) and every other gets 409 with the active job; a losing rule change leaves
the rules as they were; a losing revert leaves its job untouched and still revertible.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.auth.keys import Role, create_key
from diamond_pricing.settings import Settings
from tests.faults.procs import Procs, wait_until
from tests.reapply.conftest import seed
from tests.support import (
    create_database_from,
    drop_database,
    make_settings,
    run_async,
    with_database,
)

DB = psycopg.Connection[dict[str, Any]]
START = "/api/v2/pricing-rules/reapply"
JOBS = "/api/v2/pricing-rules/reapply/jobs"
RULES = "/api/v2/pricing-rules"
Call = Callable[[httpx.Client], httpx.Response]
# Delays of the two requests per round: two true races (either may win), then each side
# 30 ms ahead once, so both outcomes (and both losers' invariants) are checked every run.
ORDERS = [[0.0, 0.0], [0.0, 0.0], [0.0, 0.03], [0.03, 0.0]]


@dataclass
class RaceEnv:
    """One server on one seeded database, shared by this module's tests."""

    url: str
    key: str
    db: DB
    settings: Settings

    def client(self) -> httpx.Client:
        """A new admin client (its own connection)."""
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=30)

    def race(self, calls: list[Call], delays: list[float] | None = None) -> list[httpx.Response]:
        """Send the calls at once (each after its delay), one connection each; in call order."""
        barrier = threading.Barrier(len(calls))

        def send(call: Call, delay: float) -> httpx.Response:
            with self.client() as http:
                http.get("/healthz")  # connect first, so the barrier releases bare requests
                barrier.wait()
                time.sleep(delay)
                return call(http)

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(send, calls, delays or [0.0] * len(calls)))

    def settle(self) -> None:
        """Wait until no job is active."""
        wait_until(
            lambda: (
                self.db.execute(
                    "SELECT NOT EXISTS (SELECT 1 FROM pricing_reapply_jobs"
                    " WHERE status IN ('pending', 'running')) AS idle"
                ).fetchone()
                == {"idle": True}
            ),
            timeout=60,
            what="no active job",
        )

    def job_count(self) -> int:
        """How many jobs exist."""
        row = self.db.execute("SELECT count(*) AS n FROM pricing_reapply_jobs").fetchone()
        assert row is not None
        return int(row["n"])

    def job(self, job_id: Any) -> dict[str, Any]:
        """A job row."""
        row = self.db.execute(
            "SELECT * FROM pricing_reapply_jobs WHERE id = %s", (job_id,)
        ).fetchone()
        assert row is not None
        return row

    def completed_job(self) -> str:
        """Change the rules, run a job to completion; returns its id (revertible)."""
        self.db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 0.5")
        with self.client() as http:
            response = http.post(START)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["data"]["id"]
        self.settle()
        row = self.job(job_id)
        assert row["status"] == "completed" and row["updated_diamonds"] > 0
        return job_id


@pytest.fixture(scope="module")
def env(
    pg_server_uri: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RaceEnv]:
    """A seeded database and a ``serve`` process with fast jobs."""
    name = create_database_from(pg_server_uri, template_db)
    db_url = with_database(pg_server_uri, name)
    procs = Procs(Path(tmp_path_factory.mktemp("races")))
    try:
        settings = make_settings(db_url)
        seed(db_url, settings, 400)
        _, key = run_async(db_url, lambda conn: create_key(conn, name="racer", role=Role.ADMIN))
        # Jobs last about half a second, so a winner is still active when the losers arrive.
        server = procs.start(
            "serve", db_url, "serve", job_batch_size=100, job_batch_pause_seconds=0.15
        )
        with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as db:
            yield RaceEnv(url=server.url or "", key=key, db=db, settings=settings)
    finally:
        procs.close()
        drop_database(pg_server_uri, name)


def statuses(responses: list[httpx.Response]) -> list[int]:
    """Status codes, sorted."""
    return sorted(response.status_code for response in responses)


def assert_conflict_names(response: httpx.Response, winner: str) -> None:
    """A 409 in our error shape that carries the active job (the winner, unless it finished)."""
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "job_active"
    job = error["details"]["job"]
    assert job is None or job["id"] == winner


def test_twenty_concurrent_starts_give_one_202_and_nineteen_409(env: RaceEnv) -> None:
    for _ in range(2):
        count = env.job_count()
        responses = env.race([lambda http: http.post(START)] * 20)
        assert statuses(responses) == [202] + [409] * 19
        winner = next(r for r in responses if r.status_code == 202).json()["data"]["id"]
        for response in responses:
            if response.status_code != 202:
                assert_conflict_names(response, winner)
        assert env.job_count() == count + 1
        env.settle()


def test_start_against_revert_one_wins_and_the_loser_changes_nothing(
    env: RaceEnv, report: Callable[[str], None]
) -> None:
    wins = {"start": 0, "revert": 0}
    target = env.completed_job()
    for round_no in range(4):
        count = env.job_count()
        revert_path = f"{JOBS}/{target}/revert"
        start, revert = env.race(
            [lambda http: http.post(START), lambda http: http.post(revert_path)],  # noqa: B023
            ORDERS[round_no],
        )
        assert statuses([start, revert]) == [202, 409], (start.text, revert.text)
        assert env.job_count() == count + 1
        if start.status_code == 202:
            wins["start"] += 1
            assert_conflict_names(revert, start.json()["data"]["id"])
            env.settle()
            row = env.job(target)
            assert row["status"] == "completed" and row["reverted_by_job_id"] is None
        else:
            wins["revert"] += 1
            revert_id = revert.json()["data"]["id"]
            assert_conflict_names(start, revert_id)
            env.settle()
            assert env.job(target)["status"] == "reverted"
            target = env.completed_job()
    report(f"start vs revert: {wins}")


def test_concurrent_reverts_one_wins_and_the_others_are_409(env: RaceEnv) -> None:
    target = env.completed_job()
    responses = env.race([lambda http: http.post(f"{JOBS}/{target}/revert")] * 10)
    assert statuses(responses) == [202] + [409] * 9, [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 202).json()["data"]["id"]
    for response in responses:
        if response.status_code != 202:
            assert_conflict_names(response, winner)
    env.settle()
    assert str(env.job(target)["reverted_by_job_id"]) == winner
    assert env.job(target)["status"] == "reverted"

    first, second = env.completed_job(), env.completed_job()
    responses = env.race(
        [
            lambda http: http.post(f"{JOBS}/{first}/revert"),
            lambda http: http.post(f"{JOBS}/{second}/revert"),
        ]
    )
    assert statuses(responses) == [202, 409], [r.text for r in responses]
    env.settle()
    loser = first if responses[0].status_code == 409 else second
    row = env.job(loser)
    assert row["status"] == "completed" and row["reverted_by_job_id"] is None


def rules_state(db: DB) -> list[dict[str, Any]]:
    """Every rule row (active or not), as stored."""
    return db.execute("SELECT * FROM pricing_rules ORDER BY id").fetchall()


def test_rule_change_with_recalculate_against_a_manual_start(
    env: RaceEnv, report: Callable[[str], None]
) -> None:
    wins = {"rule": 0, "manual": 0}
    for round_no in range(4):
        rules_before = rules_state(env.db)
        victim = rules_before[round_no % len(rules_before)]["id"]
        rule_call: Call
        if round_no % 2 == 0:
            body = {"priority": 500 + round_no, "margin_modifier": 1, "recalculate_pricing": True}

            def rule_call(http: httpx.Client, body: dict[str, Any] = body) -> httpx.Response:
                return http.post(RULES, json=body)

            success = 201
        else:

            def rule_call(http: httpx.Client, rule_id: Any = victim) -> httpx.Response:
                return http.delete(f"{RULES}/{rule_id}", params={"recalculate_pricing": "true"})

            success = 200
        rule, manual = env.race([rule_call, lambda http: http.post(START)], ORDERS[round_no])
        outcome = sorted([rule.status_code, manual.status_code])
        assert outcome in ([202, 409], [success, 409]), (rule.text, manual.text)
        assert (rule.status_code == success) != (manual.status_code == 202)
        if rule.status_code == success:
            wins["rule"] += 1
            job_id = rule.json()["data"]["reapply_job_id"]
            assert_conflict_names(manual, job_id)
            job = env.job(job_id)
            assert job["trigger_type"] in ("rule_create", "rule_delete")
            assert str(job["triggered_by_rule_id"]) == rule.json()["data"]["id"]
            assert rules_state(env.db) != rules_before
        else:
            wins["manual"] += 1
            assert_conflict_names(rule, manual.json()["data"]["id"])
            assert rules_state(env.db) == rules_before  # the losing rule change left no trace
        env.settle()
        # restore the rules so every round starts alike
        env.db.execute("UPDATE pricing_rules SET active = true WHERE id = %s", (victim,))
    report(f"rule change vs manual start: {wins}")

"""Schemathesis against the app's own /openapi.json, over real HTTP, as every role.

Each operation of the document gets schema-conforming (positive) and schema-violating
(negative) requests, plus positive requests aimed at ids that exist (a rule, a diamond, a
completed job, a feed). Every response must be a non-5xx whose status code, content type and
body are the ones the document gives for that operation. Generation is derandomized (the same
requests every run), shrinking is off, each case is generated once and replayed for the other
roles, and the whole run has a wall-clock budget: about 2,300 requests in under a minute.

The server runs its job runner on a tiny inventory (300 diamonds), so generated starts,
reverts, cancels and resumes meet real job states (and 409 / 400 while one is active).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

from tests.fuzz.conftest import Target, seeded_target

ROLES = ("admin", "ingest", "read", "none")
# Cases generated per operation: schema-conforming, schema-violating, and conforming ones aimed
# at ids that exist. Admin (who can reach every route's logic) is sent every case; the other
# roles every SHARE-th one, so generation (the slow part) is paid once per case.
POSITIVE, NEGATIVE, AT_KNOWN_IDS = 40, 22, 12
SHARE = 3
MIN_REQUESTS = {"admin": 1100, "ingest": 350, "read": 350, "none": 350}
MIN_TOTAL = 2000
BUDGET_SECONDS = 100
REQUEST_TIMEOUT_SECONDS = 15
AUTH_HEADERS = frozenset({"x-api-key", "authorization", "cookie"})
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.negative_data_rejection,
]
FAST_JOBS = {"job_batch_size": 100, "job_poll_seconds": 0.2, "job_lease_seconds": 5.0}


@dataclass
class FuzzTarget:
    """The served app, its loaded schema and ids that exist, by path parameter name."""

    target: Target
    schema: Any
    known: dict[str, str]


@dataclass
class Tally:
    """What the run sent and saw, per role."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(
        default_factory=lambda: {role: Counter() for role in ROLES}
    )
    failures: list[str] = field(default_factory=list)
    generated: int = 0


def completed_job(client: httpx.Client) -> str:
    """Change a rule, run a reapply job over the inventory and return its id once completed."""
    rules = client.get("/api/v2/pricing-rules").json()["data"]["rules"]
    client.put(f"/api/v2/pricing-rules/{rules[3]['id']}", json={"margin_modifier": "2.50"})
    started = client.post("/api/v2/pricing-rules/reapply", json={"allow_below_cost": True})
    assert started.status_code == 202, started.text
    job_id: str = started.json()["data"]["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/api/v2/pricing-rules/reapply/jobs/{job_id}").json()["data"][
        "status"
    ] not in ("completed", "failed"):
        assert time.monotonic() < deadline, "setup job did not finish"
        time.sleep(0.05)
    return job_id


@pytest.fixture(scope="module")
def fuzz(pg_server_uri: str, template_db: str) -> Iterator[FuzzTarget]:
    """The app on a seeded database, with its OpenAPI document loaded over HTTP."""
    with seeded_target(pg_server_uri, template_db, **FAST_JOBS) as target:
        with target.client("admin") as admin:
            job_id = completed_job(admin)
            rule_id = admin.get("/api/v2/pricing-rules").json()["data"]["rules"][0]["id"]
            diamond_id = admin.get("/api/v2/diamonds?limit=1").json()["data"]["diamonds"][0]["id"]
        schema = schemathesis.openapi.from_url(f"{target.url}/openapi.json")
        known = {"job_id": job_id, "rule_id": rule_id, "diamond_id": diamond_id, "feed": "atlas"}
        yield FuzzTarget(target=target, schema=schema, known=known)


def report(label: str, case: Case, response: Any, failure: Exception) -> str:
    """One failure, with what to send to reproduce it."""
    title = getattr(failure, "title", type(failure).__name__)
    return (
        f"{label}: {title} [{response.status_code}]\n  {failure}\n"
        f"  request: {case.as_curl_command()}\n  response: {response.text[:300]}"
    )


def exercise(fuzz: FuzzTarget, strategy: Any, *, label: str, examples: int, tally: Tally) -> None:
    """Generate up to ``examples`` requests; send each as admin (every SHARE-th as every role)."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,  # bounded per request by the HTTP timeout, in all by BUDGET_SECONDS
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Case) -> None:
        for name in list(case.headers or {}):
            if name.lower() in AUTH_HEADERS:  # the role decides the credentials, not the fuzzer
                del case.headers[name]
        roles = ROLES if tally.generated % SHARE == 0 else ROLES[:1]
        tally.generated += 1
        for role in roles:
            secret = fuzz.target.keys.get(role)
            response = case.call(
                base_url=fuzz.target.url,
                headers={"X-API-Key": secret} if secret else {},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
            tally.requests[role] += 1
            tally.statuses[role][response.status_code] += 1
            where = f"{role} {label}"
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                tally.failures.extend(report(where, case, response, f) for f in group.exceptions)
            except Failure as failure:
                tally.failures.append(report(where, case, response, failure))

    # An operation without parameters or body has no schema-violating request to make.
    with contextlib.suppress(Unsatisfiable):
        run()


def test_generated_requests_as_every_role_get_documented_non_5xx_responses(
    fuzz: FuzzTarget,
) -> None:
    tally = Tally()
    started = time.monotonic()
    operations = [result.ok() for result in fuzz.schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        plans = [
            (GenerationMode.POSITIVE, POSITIVE, {}),
            (GenerationMode.NEGATIVE, NEGATIVE, {}),
        ]
        names = {p.name for p in operation.path_parameters}
        if names and names <= fuzz.known.keys():
            path = {n: fuzz.known[n] for n in names}
            plans.append((GenerationMode.POSITIVE, AT_KNOWN_IDS, path))
        for mode, examples, path in plans:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path or None)
            exercise(fuzz, strategy, label=operation.label, examples=examples, tally=tally)
            assert time.monotonic() - started < BUDGET_SECONDS, "over the time budget"
    elapsed = time.monotonic() - started
    total = sum(tally.requests.values())
    print(f"\nschemathesis: {total} requests ({tally.generated} generated) in {elapsed:.1f}s")
    for role in ROLES:
        print(f"  {role}: {tally.requests[role]} {dict(sorted(tally.statuses[role].items()))}")
    assert not tally.failures, f"{len(tally.failures)} failures:\n" + "\n".join(tally.failures[:15])
    assert total >= MIN_TOTAL
    for role in ROLES:
        assert tally.requests[role] >= MIN_REQUESTS[role], role
        assert not any(status >= 500 for status in tally.statuses[role])

"""Every API endpoint × every kind of credential → the expected status (401 / 403 / success).

To cover a new endpoint, add ONE line to ENDPOINTS (and, if its path has a new
placeholder, one entry to PATH_VALUES). ``test_every_api_route_is_in_the_matrix`` fails
until every route under /api/v2 has a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from diamond_pricing.app import API_PREFIX
from diamond_pricing.auth.keys import Role
from tests.api.routes import api_routes, build_app

PUBLIC = None  # no key needed (a key that is sent must still be valid)
ANY = "any"  # any valid key
READ, INGEST, ADMIN = Role.READ.value, Role.INGEST.value, Role.ADMIN.value


@dataclass(frozen=True)
class Endpoint:
    """One route and what it needs: (method, path template, required role, JSON body, success)."""

    method: str
    path: str
    role: str | None
    body: Any = None
    ok: int = 200


P = API_PREFIX
ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", f"{P}/pricing-rules", ANY),
    Endpoint("POST", f"{P}/pricing-rules", ADMIN, {"priority": 99, "margin_modifier": 1}, ok=201),
    Endpoint("PUT", f"{P}/pricing-rules/{{rule_id}}", ADMIN, {"rating": 5}),
    Endpoint("DELETE", f"{P}/pricing-rules/{{rule_id}}", ADMIN),
    Endpoint("POST", f"{P}/pricing/quote", ANY, {"feed": "f", "feed_price": "100.00"}),
    Endpoint("GET", f"{P}/diamonds", PUBLIC),
    Endpoint("GET", f"{P}/diamonds/{{diamond_id}}", PUBLIC, ok=404),  # an unknown id
    Endpoint("GET", f"{P}/dataset-versions", PUBLIC),
    Endpoint("PUT", f"{P}/feeds/{{feed}}/diamonds", INGEST, {"diamonds": []}),
    Endpoint("POST", f"{P}/pricing-rules/reapply/preview", ADMIN),
    # An invalid scope: authorised callers get 422, so no job is started by the matrix.
    Endpoint("POST", f"{P}/pricing-rules/reapply", ADMIN, {"scope": {"feeds": [""]}}, ok=422),
    Endpoint("GET", f"{P}/pricing-rules/reapply/jobs", ADMIN),
    Endpoint("GET", f"{P}/pricing-rules/reapply/jobs/{{job_id}}", ADMIN, ok=404),
    Endpoint("GET", f"{P}/pricing-rules/reapply/jobs/{{job_id}}/changes", ADMIN, ok=404),
    Endpoint("POST", f"{P}/pricing-rules/reapply/jobs/{{job_id}}/revert", ADMIN, ok=404),
    Endpoint("POST", f"{P}/pricing-rules/reapply/jobs/{{job_id}}/cancel", ADMIN, ok=404),
    Endpoint("POST", f"{P}/pricing-rules/reapply/jobs/{{job_id}}/resume", ADMIN, ok=404),
]

# SQL returning the value of each path placeholder in a fresh (migrated) test database.
PATH_VALUES: dict[str, str] = {
    "rule_id": "SELECT id::text FROM pricing_rules ORDER BY priority, created_at, id LIMIT 1",
    "diamond_id": "SELECT gen_random_uuid()::text",
    "feed": "SELECT 'matrix-feed'",
    "job_id": "SELECT gen_random_uuid()::text",  # an unknown job
}

CREDENTIALS = (
    "no key",
    "malformed",
    "unknown",
    "revoked",
    "expired",
    "read",
    "ingest",
    "admin",
    "admin as bearer",
)


def expected_status(endpoint: Endpoint, credential: str) -> int:
    """What the API must answer for this credential."""
    if credential in {"unknown", "revoked", "expired"}:
        return 401
    if credential in {"no key", "malformed"}:
        return endpoint.ok if endpoint.role is PUBLIC else 401
    role = "admin" if credential == "admin as bearer" else credential
    if endpoint.role in {PUBLIC, ANY} or role in {ADMIN, endpoint.role}:
        return endpoint.ok
    return 403


def credential_headers(
    make_key: Callable[..., str], db: psycopg.Connection[dict[str, Any]]
) -> dict[str, dict[str, str]]:
    """Request headers for every credential, backed by keys in the test database."""
    admin = make_key(Role.ADMIN, "matrix-admin")
    revoked = make_key(Role.ADMIN, "matrix-revoked")
    db.execute("UPDATE api_keys SET active = false WHERE name = 'matrix-revoked'")
    expired = make_key(
        Role.ADMIN, "matrix-expired", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    return {
        "no key": {},
        "malformed": {"Authorization": "Bearer"},
        "unknown": {"X-API-Key": "dpk_this_key_does_not_exist"},
        "revoked": {"X-API-Key": revoked},
        "expired": {"X-API-Key": expired},
        "read": {"X-API-Key": make_key(Role.READ, "matrix-read")},
        "ingest": {"X-API-Key": make_key(Role.INGEST, "matrix-ingest")},
        "admin": {"X-API-Key": admin},
        "admin as bearer": {"Authorization": f"Bearer {admin}"},
    }


def concrete_path(template: str, db: psycopg.Connection[dict[str, Any]]) -> str:
    """The template with each {placeholder} filled from PATH_VALUES."""
    values = {}
    for name, query in PATH_VALUES.items():
        if f"{{{name}}}" in template:
            row = db.execute(query).fetchone()
            assert row is not None, f"PATH_VALUES[{name!r}] found nothing"
            values[name] = next(iter(row.values()))
    return template.format(**values)


@pytest.mark.parametrize(
    "endpoint", [pytest.param(e, id=f"{e.method} {e.path}") for e in ENDPOINTS]
)
def test_endpoint_answers_each_credential_as_expected(
    endpoint: Endpoint,
    client: httpx.Client,
    make_key: Callable[..., str],
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    headers = credential_headers(make_key, db)
    url = concrete_path(endpoint.path, db)
    actual, wanted = {}, {}
    for credential in CREDENTIALS:
        response = client.request(
            endpoint.method, url, headers=headers[credential], json=endpoint.body
        )
        actual[credential] = response.status_code
        wanted[credential] = expected_status(endpoint, credential)
        if response.status_code in {401, 403}:
            assert response.json()["error"]["code"] in {"unauthorized", "forbidden"}
    assert actual == wanted


def test_every_api_route_is_in_the_matrix() -> None:
    served = {
        (method, path) for method, path, _ in api_routes(build_app()) if path.startswith(API_PREFIX)
    }
    in_table = {(e.method, e.path) for e in ENDPOINTS}
    assert len(in_table) == len(ENDPOINTS), "a route is listed twice"
    assert served - in_table == set(), "add these routes to ENDPOINTS"
    assert in_table - served == set(), "these ENDPOINTS rows match no route"

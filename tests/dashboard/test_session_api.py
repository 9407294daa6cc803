"""The dashboard's session cookie authenticates JSON API calls; unsafe ones need the CSRF token."""

from __future__ import annotations

import httpx
import psycopg


def signed_in(client: httpx.Client, admin_key: str) -> str:
    """Log in and return the page's CSRF token."""
    client.post("/login", data={"key": admin_key, "next": "/rules"})
    page = client.get("/rules").text
    return page.split('name="csrf-token" content="')[1].split('"')[0]


RULE = {"priority": 3, "margin_modifier": "1.5"}


def test_session_cookie_reads_the_api(client: httpx.Client, admin_key: str) -> None:
    signed_in(client, admin_key)
    response = client.get("/api/v2/pricing-rules")
    assert response.status_code == 200
    assert response.json()["data"]["total"] == 21


def test_cookie_write_without_csrf_token_is_refused(client: httpx.Client, admin_key: str) -> None:
    signed_in(client, admin_key)
    response = client.post("/api/v2/pricing-rules", json=RULE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    wrong = client.post("/api/v2/pricing-rules", json=RULE, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert client.get("/api/v2/pricing-rules").json()["data"]["total"] == 21


def test_cookie_write_with_csrf_token_succeeds(client: httpx.Client, admin_key: str) -> None:
    token = signed_in(client, admin_key)
    response = client.post("/api/v2/pricing-rules", json=RULE, headers={"X-CSRF-Token": token})
    assert response.status_code == 201
    assert response.json()["data"]["priority"] == 3


def test_revoking_the_key_ends_its_sessions(
    client: httpx.Client, admin_key: str, db: psycopg.Connection[dict[str, object]]
) -> None:
    signed_in(client, admin_key)
    db.execute("UPDATE api_keys SET active = false WHERE name = 'admin-tests'")
    assert client.get("/api/v2/pricing-rules").status_code == 401
    assert client.get("/rules").status_code == 303


def test_forged_cookie_is_ignored(client: httpx.Client) -> None:
    client.cookies.set("dp_session", "forged.value.here")
    assert client.get("/api/v2/pricing-rules").status_code == 401

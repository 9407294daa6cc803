"""Dashboard login, sessions and page protection, through real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from diamond_pricing.auth.keys import Role


def login(client: httpx.Client, key: str) -> httpx.Response:
    return client.post("/login", data={"key": key, "next": "/rules"})


def test_pages_redirect_to_login_when_signed_out(client: httpx.Client) -> None:
    for path in ("/rules", "/diamonds", "/jobs/00000000-0000-0000-0000-000000000000"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_login_with_admin_key_sets_strict_httponly_cookie(
    client: httpx.Client, admin_key: str
) -> None:
    response = login(client, admin_key)
    assert response.status_code == 303
    assert response.headers["location"] == "/rules"
    cookie = response.headers["set-cookie"].lower()
    assert "dp_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_login_refuses_non_admin_and_unknown_keys(
    client: httpx.Client, make_key: Callable[..., str]
) -> None:
    read_key = make_key(Role.READ, "reader")
    assert login(client, read_key).status_code == 401
    assert login(client, "dpk_not-a-key").status_code == 401
    assert "dp_session" not in client.cookies


def test_login_page_and_rules_page_render_with_security_headers(
    client: httpx.Client, admin_key: str
) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "Admin API key" in page.text
    login(client, admin_key)
    rules = client.get("/rules")
    assert rules.status_code == 200
    assert "Reapply pricing" in rules.text and "Add rule" in rules.text
    csp = rules.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert rules.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in rules.text  # no inline script: only src= and JSON data blocks


def test_logout_needs_the_csrf_token(client: httpx.Client, admin_key: str) -> None:
    login(client, admin_key)
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    assert client.get("/rules").status_code == 200
    page = client.get("/rules").text
    token = page.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    client.cookies.clear()
    assert client.get("/rules").status_code == 303


def test_login_does_not_follow_offsite_next(client: httpx.Client, admin_key: str) -> None:
    response = client.post("/login", data={"key": admin_key, "next": "//evil.example/x"})
    assert response.headers["location"] == "/rules"


def test_stale_rules_banner_appears_after_a_rule_change(
    client: httpx.Client, admin_key: str
) -> None:
    login(client, admin_key)
    assert 'id="stale-banner"' not in client.get("/rules").text
    response = client.post(
        "/api/v2/pricing-rules",
        json={"priority": 2, "margin_modifier": 1},
        headers={"X-API-Key": admin_key},
    )
    assert response.status_code == 201
    assert 'id="stale-banner"' in client.get("/rules").text


def test_job_and_diamonds_pages_render_for_a_signed_in_admin(
    client: httpx.Client, admin_key: str
) -> None:
    login(client, admin_key)
    job = client.get("/jobs/00000000-0000-4000-8000-000000000000")
    assert job.status_code == 200
    assert "Rules this job applied" in job.text and "Download CSV" in job.text
    diamonds = client.get("/diamonds")
    assert diamonds.status_code == 200
    assert 'id="diamonds-table"' in diamonds.text
    assert '<label for="f-feed">Feed</label>' in diamonds.text

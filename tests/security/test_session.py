"""The dashboard session cookie's flags, and CSRF on every form and every cookie-authenticated write.

Secure flag: the cookie is Secure when the request's scheme is https. Behind a TLS-terminating
proxy the scheme comes from X-Forwarded-Proto, which uvicorn honours only from the addresses in
FORWARDED_ALLOW_IPS (default 127.0.0.1, i.e. a proxy on the same machine); from anywhere else the
header is ignored, so a client cannot talk the server out of (or into) the flag.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie

import httpx
import psycopg
import pytest

from diamond_pricing.app import API_PREFIX
from tests.api.routes import api_routes, build_app
from tests.security.conftest import SESSION_COOKIE, scan, sign_in

UNSAFE = {"POST", "PUT", "DELETE", "PATCH"}
# A body every unsafe route rejects after authentication (unknown field) and never acts on.
BOGUS_BODY = {"bogus": True}


def session_cookie(response: httpx.Response) -> SimpleCookie:
    """The Set-Cookie header of a response, parsed."""
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    assert SESSION_COOKIE in cookie
    return cookie


def unsafe_api_routes() -> list[tuple[str, str]]:
    """(method, path) of every state-changing API route the app serves."""
    return sorted(
        (method, path)
        for method, path, _ in api_routes(build_app())
        if method in UNSAFE and path.startswith(API_PREFIX)
    )


def fill(path: str) -> str:
    """The path with unknown ids (and a feed name) in its placeholders."""
    return path.format(
        rule_id=uuid.uuid4(), job_id=uuid.uuid4(), diamond_id=uuid.uuid4(), feed="csrf-feed"
    )


def db_fingerprint(db: psycopg.Connection[dict[str, object]]) -> tuple[object, ...]:
    """Counts and last updates of everything a write could touch."""
    row = db.execute(
        "SELECT (SELECT count(*) FROM pricing_rules) AS rules,"
        " (SELECT max(updated_at) FROM pricing_rules) AS rules_at,"
        " (SELECT count(*) FROM diamonds) AS diamonds,"
        " (SELECT count(*) FROM pricing_reapply_jobs) AS jobs,"
        " (SELECT coalesce(sum(version), 0) FROM dataset_versions) AS versions"
    ).fetchone()
    assert row is not None
    return tuple(row.values())


@pytest.fixture
def signed_in(client: httpx.Client, admin_key: str) -> Iterator[tuple[httpx.Client, str]]:
    """The client with a dashboard session, and the session's CSRF token."""
    token = sign_in(client, admin_key)
    yield client, token


def test_session_cookie_is_httponly_strict_and_scoped_to_the_site(
    client: httpx.Client, admin_key: str
) -> None:
    response = client.post("/login", data={"key": admin_key, "next": "/rules"})
    morsel = session_cookie(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == "43200"
    assert not morsel["domain"]
    assert not morsel["secure"]  # plain http (tests): a Secure cookie would never come back


def test_session_cookie_is_secure_behind_an_https_proxy(
    client: httpx.Client, admin_key: str
) -> None:
    response = client.post(
        "/login",
        data={"key": admin_key, "next": "/rules"},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 303
    assert session_cookie(response)[SESSION_COOKIE]["secure"] is True


def test_logout_clears_the_cookie_for_the_same_path(
    signed_in: tuple[httpx.Client, str],
) -> None:
    client, token = signed_in
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    morsel = session_cookie(response)[SESSION_COOKIE]
    assert morsel.value == "" and morsel["path"] == "/" and morsel["max-age"] == "0"
    assert client.get("/rules").status_code == 303


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_logout_form_needs_its_csrf_token(
    signed_in: tuple[httpx.Client, str], token: str | None
) -> None:
    client, _ = signed_in
    data = {} if token is None else {"csrf_token": token}
    assert client.post("/logout", data=data).status_code == 403
    assert client.get("/rules").status_code == 200  # still signed in


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://127.0.0.1.evil"])
def test_login_form_refuses_cross_site_posts(
    client: httpx.Client, admin_key: str, origin: str
) -> None:
    response = client.post(
        "/login", data={"key": admin_key, "next": "/rules"}, headers={"Origin": origin}
    )
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def test_every_dashboard_form_is_covered(client: httpx.Client, admin_key: str) -> None:
    posts = sorted(
        path
        for method, path, _ in api_routes(build_app())
        if method == "POST" and not path.startswith(API_PREFIX)
    )
    # /login is checked by Origin (it has no session yet); /logout by the form's token.
    assert posts == ["/login", "/logout"]
    sign_in(client, admin_key)
    for page in ("/rules", "/diamonds", f"/jobs/{uuid.uuid4()}"):
        html = scan(client.get(page).text)
        assert [form["action"] for form in html.post_forms] == ["/logout"], page
        tokens = [i for i in html.hidden_inputs if i.get("name") == "csrf_token"]
        assert len(tokens) == 1 and tokens[0]["value"], page


def test_the_route_list_covers_every_kind_of_write() -> None:
    routes = unsafe_api_routes()
    assert len(routes) >= 10
    assert {method for method, _ in routes} == {"POST", "PUT", "DELETE"}


@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for m, p in unsafe_api_routes()]
)
def test_cookie_authenticated_writes_need_the_csrf_header(
    signed_in: tuple[httpx.Client, str],
    db: psycopg.Connection[dict[str, object]],
    admin_key: str,
    method: str,
    path: str,
) -> None:
    client, token = signed_in
    url = fill(path)
    before = db_fingerprint(db)
    for header in (
        {},
        {"X-CSRF-Token": ""},
        {"X-CSRF-Token": "wrong"},
        {"X-CSRF-Token": token[:-1]},
    ):
        response = client.request(method, url, json=BOGUS_BODY, headers=header)
        assert response.status_code == 403, (header, response.text)
        assert response.json()["error"]["code"] == "csrf_failed"
    # With the token the request gets past CSRF (and fails later, on the unknown ids or field).
    passed = client.request(method, url, json=BOGUS_BODY, headers={"X-CSRF-Token": token})
    assert passed.status_code in {404, 422}, passed.text
    # A key in a header needs no token: it cannot be sent by another site's page.
    with httpx.Client(base_url=str(client.base_url)) as keyed:
        response = keyed.request(method, url, json=BOGUS_BODY, headers={"X-API-Key": admin_key})
        assert response.status_code in {404, 422}, response.text
    assert db_fingerprint(db) == before


def test_reads_with_the_cookie_need_no_token(signed_in: tuple[httpx.Client, str]) -> None:
    client, _ = signed_in
    assert client.get(f"{API_PREFIX}/pricing-rules").status_code == 200
    assert client.get(f"{API_PREFIX}/pricing-rules/reapply/jobs").status_code == 200

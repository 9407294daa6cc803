"""Dashboard pages: strict CSP, no framing, no sniffing, and HTML that needs no inline script."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from diamond_pricing.dashboard import views
from tests.security.conftest import scan, sign_in

STATIC = Path(views.__file__).parent / "static"
JOB = "00000000-0000-0000-0000-000000000000"
SIGNED_IN_PAGES = ("/rules", "/diamonds", f"/jobs/{JOB}")
HOSTILE_FEED = '</script><script>alert(1)</script><img src=x onerror="alert(2)">'


def directives(csp: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: sources}."""
    parsed = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            parsed[words[0].lower()] = words[1:]
    return parsed


def assert_secure_headers(response: httpx.Response) -> None:
    """The headers every dashboard page must carry."""
    assert response.status_code == 200, response.text
    policy = directives(response.headers["content-security-policy"])
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], policy
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for sources in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:"} & set(sources) or (
            sources == policy.get("img-src")
        ), policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def assert_no_inline_code(html: str, origin: str) -> None:
    """Only external same-origin scripts and JSON data blocks; no handlers or javascript: URLs."""
    page = scan(html)
    assert page.scripts, "expected the page's script tags"
    for script in page.scripts:
        if script.attrs.get("type") == "application/json":
            assert "<" not in script.text, script.text  # data blocks escape markup
            continue
        src = urlsplit(script.attrs.get("src") or "")
        assert src.path.startswith("/static/") and src.netloc in ("", origin), script.attrs
        assert not script.text.strip(), script.text
    assert page.handlers == []
    assert page.js_urls == []
    assert page.inline_styles == []  # style-src 'self' would block them


def test_the_login_page_has_strict_headers_and_no_inline_code(client: httpx.Client) -> None:
    page = client.get("/login")
    assert_secure_headers(page)
    assert_no_inline_code(page.text, client.base_url.netloc.decode())


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_have_strict_headers_and_no_inline_code(
    client: httpx.Client, admin_key: str, path: str
) -> None:
    sign_in(client, admin_key)
    page = client.get(path)
    assert_secure_headers(page)
    assert_no_inline_code(page.text, client.base_url.netloc.decode())


def test_hostile_rule_data_renders_as_text_not_markup(client: httpx.Client, admin_key: str) -> None:
    token = sign_in(client, admin_key)
    created = client.post(
        "/api/v2/pricing-rules",
        json={"priority": 5, "feed": HOSTILE_FEED},
        headers={"X-CSRF-Token": token},
    )
    assert created.status_code == 201, created.text
    page = client.get("/rules")
    assert_secure_headers(page)
    assert_no_inline_code(page.text, client.base_url.netloc.decode())
    assert "<img src=x" not in page.text
    assert "&lt;img src=x" in page.text  # shown, escaped


def test_static_files_and_api_responses_are_not_sniffed(client: httpx.Client) -> None:
    script = client.get("/static/common.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["x-content-type-options"] == "nosniff"
    api = client.get("/api/v2/dataset-versions")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_dashboard_scripts_use_no_eval_and_send_the_csrf_token() -> None:
    sources = {path.name: path.read_text() for path in STATIC.glob("*.js")}
    assert "common.js" in sources
    for name, text in sources.items():
        for forbidden in ("eval(", "new Function", 'setTimeout("', "document.write"):
            assert forbidden not in text, (name, forbidden)
    assert '"X-CSRF-Token"' in sources["common.js"]

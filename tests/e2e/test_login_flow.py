"""Logging in to the dashboard in a real browser."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import screenshot


def test_operator_logs_in_with_an_admin_key_and_sees_the_rules(page: Any, admin_key: str) -> None:
    page.goto("/rules")
    assert "/login" in page.url
    page.get_by_label("Admin API key").fill(admin_key)
    screenshot(page, "01-login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/rules")
    assert page.get_by_role("heading", name="Pricing rules").is_visible()
    assert page.get_by_role("button", name="Reapply pricing").is_visible()


def test_one_time_login_link_logs_in_from_the_fragment(page: Any, admin_key: str) -> None:
    page.goto(f"/login#key={admin_key}")
    page.wait_for_url("**/rules")
    assert page.get_by_role("heading", name="Pricing rules").is_visible()

"""Helpers for the pricing tests."""

from __future__ import annotations

from typing import Any

import httpx


def problems(response: httpx.Response) -> list[tuple[str, str]]:
    """A 422's (field, message) entries, in order, after checking the error shape."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return [(entry["field"], entry["message"]) for entry in error["details"]]


def rule_body(**fields: Any) -> dict[str, Any]:
    """A valid create body with ``fields`` overriding the defaults."""
    return {"priority": 5, "margin_modifier": "1.50", **fields}

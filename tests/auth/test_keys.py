"""API keys: stored only as SHA-256 hashes, accepted in two headers, never logged in clear."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg

from diamond_pricing.auth.keys import KEY_PREFIX, Role

RULES = "/api/v2/pricing-rules"
Db = psycopg.Connection[dict[str, Any]]


def test_keys_are_stored_only_as_sha256_hashes(make_key: Callable[..., str], db: Db) -> None:
    secrets = {role: make_key(role, f"k-{role.value}") for role in Role}
    rows = db.execute(
        "SELECT name, role, key_hash, row_to_json(api_keys)::text AS raw FROM api_keys"
    )
    by_name = {row["name"]: row for row in rows.fetchall()}
    for role, secret in secrets.items():
        assert secret.startswith(KEY_PREFIX) and len(secret) > 40
        row = by_name[f"k-{role.value}"]
        assert row["role"] == role.value
        assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in row["raw"]
        assert secret[len(KEY_PREFIX) :] not in row["raw"]


def test_authorization_bearer_works_like_x_api_key(
    client: httpx.Client, make_key: Callable[..., str]
) -> None:
    secret = make_key(Role.READ, "bearer")
    for headers in (
        {"Authorization": f"Bearer {secret}"},
        {"Authorization": f"bearer {secret}"},
        {"X-API-Key": secret},
    ):
        assert client.get(RULES, headers=headers).status_code == 200, headers


MALFORMED = [
    {"Authorization": "Bearer"},  # scheme without a token
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "dpk_no_scheme"},
    {"X-API-Key": ""},
    {"X-API-Key": "dpk_" + "a" * 300},  # longer than any key
    {"X-API-Key": "not a key at all"},
]


def test_malformed_credentials_get_401_in_the_standard_shape(client: httpx.Client) -> None:
    for headers in MALFORMED:
        response = client.get(RULES, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized", headers


def test_a_used_key_records_when_it_was_last_used(
    client: httpx.Client, make_key: Callable[..., str], db: Db
) -> None:
    secret = make_key(Role.READ, "used")
    assert db.execute("SELECT last_used_at FROM api_keys").fetchone() == {"last_used_at": None}
    client.get(RULES, headers={"X-API-Key": secret})
    row = db.execute("SELECT last_used_at FROM api_keys").fetchone()
    assert row is not None and row["last_used_at"] is not None


class Capture(logging.Handler):
    """Keeps every record it sees."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capture_all_logs() -> Iterator[Capture]:
    """Capture every log record, uvicorn's access log included, at DEBUG."""
    handler = Capture()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn.access", "uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_keys_never_appear_in_logs(client: httpx.Client, make_key: Callable[..., str]) -> None:
    good = make_key(Role.READ, "logged")
    unknown = "dpk_unknown_key_that_must_not_be_logged"
    with capture_all_logs() as logs:
        client.get(RULES, headers={"X-API-Key": good})
        client.get(RULES, headers={"Authorization": f"Bearer {good}"})
        client.get(RULES, headers={"X-API-Key": unknown})
        client.post(RULES, headers={"X-API-Key": good}, json={"priority": "x"})
    access = [r for r in logs.records if r.name == "uvicorn.access"]
    assert len(access) >= 4  # the access log was on, so the check below means something
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in logs.records)
    assert good not in text
    assert unknown not in text

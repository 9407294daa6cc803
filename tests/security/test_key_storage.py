"""API keys live only as SHA-256 hashes, are looked up by hash and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from diamond_pricing.auth import keys, queries, session
from diamond_pricing.auth.keys import Role

CLI = Path(sys.executable).with_name("diamond-pricing")
KEY_COLUMNS = {
    "id",
    "name",
    "key_hash",
    "role",
    "active",
    "expires_at",
    "created_at",
    "last_used_at",
}


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIAMOND_")}
    return subprocess.run(
        [str(CLI), *args],
        env={**env, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def everything_stored(db: psycopg.Connection[dict[str, Any]]) -> str:
    """Every row of every table of the public schema, as text."""
    tables = db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    dump = []
    for table in tables:
        query = sql.SQL("SELECT t::text AS row FROM {} t").format(
            sql.Identifier(table["tablename"])
        )
        dump += [row["row"] for row in db.execute(query).fetchall()]
    return "\n".join(dump)


def test_keys_are_stored_only_as_their_sha256(
    db_url: str,
    db: psycopg.Connection[dict[str, Any]],
    make_key: Callable[..., str],
    client: httpx.Client,
) -> None:
    secrets = {role.value: make_key(role, f"stored-{role.value}") for role in Role}
    secrets["cli"] = cli(
        db_url, "api-key", "create", "--name", "from-cli", "--role", "admin"
    ).stdout
    secrets["cli"] = secrets["cli"].strip()
    # Use the keys for writes too, so anything that records "who" has had its chance.
    admin = {"X-API-Key": secrets["cli"]}
    assert client.post("/api/v2/pricing-rules", json={"priority": 3}, headers=admin).is_success
    assert client.post("/api/v2/pricing-rules/reapply", headers=admin).status_code == 202
    bearer = {"Authorization": f"Bearer {secrets['ingest']}"}
    ingest = {"diamonds": [{"supplier_stone_id": "S-1", "lab_grown": True, "feed_price": 10}]}
    assert client.put("/api/v2/feeds/keyfeed/diamonds", json=ingest, headers=bearer).is_success

    columns = db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys'"
    ).fetchall()
    assert {c["column_name"] for c in columns} == KEY_COLUMNS
    rows = {row["name"]: row for row in db.execute("SELECT * FROM api_keys").fetchall()}
    stored = everything_stored(db)
    for name, secret in secrets.items():
        assert secret.startswith("dpk_") and len(secret) > 40
        row = rows[f"stored-{name}" if name != "cli" else "from-cli"]
        assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in stored, f"the {name} key is stored in clear"
        assert secret[4:20] not in stored  # not even a part of it
    listed = cli(db_url, "api-key", "list").stdout
    for secret in secrets.values():
        assert secret not in listed and hashlib.sha256(secret.encode()).hexdigest() not in listed


def test_authentication_looks_up_by_hash_and_compares_in_constant_time() -> None:
    source = inspect.getsource(keys.authenticate)
    assert "hash_key(secret)" in source
    assert "get_key_by_hash" in source
    assert "hmac.compare_digest(" in source
    assert "WHERE key_hash = %(key_hash)s" in inspect.getsource(queries.get_key_by_hash)
    assert "hmac.compare_digest(" in inspect.getsource(session.csrf_matches)


def test_every_authentication_goes_through_compare_digest(
    client: httpx.Client, make_key: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make_key(Role.READ, "timed")
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert client.get("/api/v2/pricing-rules", headers={"X-API-Key": secret}).status_code == 200
    assert (digest, digest) in calls
    calls.clear()
    response = client.get("/api/v2/pricing-rules", headers={"X-API-Key": secret[:-1] + "x"})
    assert response.status_code == 401
    assert all(secret not in map(str, call) for call in calls)  # no clear-text comparison


@pytest.mark.parametrize(
    "presented",
    [
        lambda s: s.upper(),
        lambda s: s[:-1],
        lambda s: s + "x",
        lambda s: hashlib.sha256(s.encode()).hexdigest(),  # the stored hash is not a key
        lambda s: "x" * 300,
        lambda s: "",
    ],
    ids=["case-changed", "truncated", "extended", "the-hash", "too-long", "empty"],
)
def test_near_misses_of_a_key_are_refused(
    client: httpx.Client, make_key: Callable[..., str], presented: Callable[[str], str]
) -> None:
    secret = make_key(Role.ADMIN, "near-miss")
    value = presented(secret)
    attempts = [{"X-API-Key": value}] + ([{"Authorization": f"Bearer {value}"}] if value else [])
    for headers in attempts:
        response = client.get("/api/v2/pricing-rules", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"

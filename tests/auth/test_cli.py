"""``diamond-pricing api-key create|list|revoke`` in a real subprocess on the test database."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

Db = psycopg.Connection[dict[str, Any]]
CLI = Path(sys.executable).with_name("diamond-pricing")


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with DATABASE_URL pointing at the test database."""
    env = {**os.environ, "DATABASE_URL": db_url, "COLUMNS": "200"}
    return subprocess.run(
        [str(CLI), "api-key", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_create_prints_only_the_key_which_is_stored_hashed(db_url: str, db: Db) -> None:
    result = run_cli(db_url, "create", "--name", "ci", "--role", "ingest")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert result.stdout == secret + "\n"
    assert secret.startswith("dpk_") and " " not in secret
    row = db.execute("SELECT name, role, key_hash, active, expires_at FROM api_keys").fetchone()
    assert row == {
        "name": "ci",
        "role": "ingest",
        "key_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "active": True,
        "expires_at": None,
    }


def test_create_with_expiry_and_list_shows_keys_without_secrets(db_url: str, db: Db) -> None:
    created = run_cli(
        db_url, "create", "--name", "temp", "--role", "read", "--expires-in-days", "7"
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    row = db.execute("SELECT expires_at FROM api_keys WHERE name = 'temp'").fetchone()
    assert row is not None
    assert abs(row["expires_at"] - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=5)

    db.execute(
        "INSERT INTO api_keys (name, key_hash, role, active, expires_at)"
        " VALUES ('old', repeat('a', 64), 'admin', false, now() - interval '1 day')"
    )
    listing = run_cli(db_url, "list")
    assert listing.returncode == 0, listing.stderr
    header, *lines = listing.stdout.splitlines()
    assert header.split() == ["NAME", "ROLE", "ACTIVE", "CREATED", "EXPIRES", "LAST", "USED"]
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == {"temp", "old"}
    assert by_name["temp"].split()[1:3] == ["read", "yes"]
    assert by_name["old"].split()[1:3] == ["admin", "no"]
    assert "(expired)" in by_name["old"] and "(expired)" not in by_name["temp"]
    assert secret not in listing.stdout
    assert hashlib.sha256(secret.encode()).hexdigest() not in listing.stdout
    assert "a" * 64 not in listing.stdout


def test_revoke_disables_the_key_and_unknown_names_fail(db_url: str, db: Db) -> None:
    assert run_cli(db_url, "create", "--name", "gone", "--role", "admin").returncode == 0
    revoked = run_cli(db_url, "revoke", "gone")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == ""
    assert db.execute("SELECT active FROM api_keys WHERE name = 'gone'").fetchone() == {
        "active": False
    }

    again = run_cli(db_url, "revoke", "gone")
    assert again.returncode != 0
    assert again.stdout == ""
    assert again.stderr == "error: no active API key named 'gone'\n"


def test_create_refuses_a_second_active_key_with_the_same_name(db_url: str) -> None:
    assert run_cli(db_url, "create", "--name", "dup", "--role", "read").returncode == 0
    second = run_cli(db_url, "create", "--name", "dup", "--role", "read")
    assert second.returncode != 0
    assert second.stdout == ""
    assert second.stderr.strip().splitlines()[-1] == (
        "error: an active API key named 'dup' already exists; revoke it first"
    )


def test_create_rejects_an_unknown_role(db_url: str, db: Db) -> None:
    result = run_cli(db_url, "create", "--name", "x", "--role", "root")
    assert result.returncode != 0
    assert result.stdout == ""
    assert db.execute("SELECT count(*) AS n FROM api_keys").fetchone() == {"n": 0}

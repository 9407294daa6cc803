"""The migration runner on fresh databases, and the constraints the schema enforces."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.migrate import (
    ADVISORY_LOCK_KEY,
    MIGRATIONS_DIR,
    MigrationError,
    discover,
    migrate,
)
from tests.foundation.rulesets import BASE_PRIORITY, DEFAULT_BRACKETS
from tests.support import create_database_from, drop_database, with_database

FOUNDATION_TABLES = {"diamonds", "pricing_rules", "dataset_versions", "api_keys"}


def fetch(url: str, query: str, params: Any = None) -> list[dict[str, Any]]:
    """Run one query on its own connection and return the rows."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def tables(url: str) -> set[str]:
    """Tables in the public schema."""
    rows = fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row["tablename"] for row in rows}


def applied_versions(url: str) -> list[str]:
    """Versions recorded in schema_migrations, one row each."""
    return [
        row["version"] for row in fetch(url, "SELECT version FROM schema_migrations ORDER BY 1")
    ]


def copy_migrations(tmp_path: Path) -> Path:
    """A private copy of sql/migrations to edit."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_migrate_on_an_empty_database_creates_the_schema_and_default_rules(
    empty_db_url: str,
) -> None:
    all_files = [migration.name for migration in discover()]
    assert all_files[:4] == [
        "001_diamonds.sql",
        "002_pricing_rules.sql",
        "003_dataset_versions.sql",
        "004_api_keys.sql",
    ]

    assert migrate(empty_db_url) == all_files

    assert FOUNDATION_TABLES | {"schema_migrations"} <= tables(empty_db_url)
    assert applied_versions(empty_db_url) == [name[:3] for name in all_files]
    rules = fetch(
        empty_db_url,
        "SELECT priority, stone_type, feed, price_min, price_max, margin_modifier, rating, active"
        " FROM pricing_rules ORDER BY priority",
    )
    expected = [
        {
            "priority": base + position,
            "stone_type": stone_type.value,
            "feed": None,
            "price_min": low,
            "price_max": high,
            "margin_modifier": modifier,
            "rating": None,
            "active": True,
        }
        for stone_type, base in BASE_PRIORITY.items()
        for position, (low, high, modifier) in enumerate(DEFAULT_BRACKETS)
    ]
    assert rules == expected
    assert [rule["priority"] for rule in rules] == [*range(10, 17), *range(20, 27), *range(30, 37)]


def test_a_second_run_is_a_no_op(empty_db_url: str) -> None:
    migrate(empty_db_url)
    before = fetch(empty_db_url, "SELECT version, checksum, applied_at FROM schema_migrations")

    assert migrate(empty_db_url) == []

    assert fetch(empty_db_url, "SELECT version, checksum, applied_at FROM schema_migrations") == (
        before
    )
    assert fetch(empty_db_url, "SELECT count(*) AS n FROM pricing_rules") == [{"n": 21}]


def test_concurrent_runs_apply_each_migration_exactly_once(empty_db_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(empty_db_url))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    # Hold the runner's lock so both runs are queued on it, then let them race.
    with psycopg.connect(empty_db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while waiting_for_lock(holder) < 2:
            assert time.monotonic() < deadline, "runs never queued on the advisory lock"
            time.sleep(0.02)
        holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    all_files = [migration.name for migration in discover()]
    assert sorted(results, key=len) == [[], all_files]
    assert applied_versions(empty_db_url) == [name[:3] for name in all_files]
    assert fetch(empty_db_url, "SELECT count(*) AS n FROM pricing_rules") == [{"n": 21}]


def waiting_for_lock(conn: psycopg.Connection[Any]) -> int:
    """How many sessions wait for an advisory lock in this database."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    return int(row[0]) if row else 0


def test_a_changed_applied_file_is_refused_before_anything_else_runs(
    empty_db_url: str, tmp_path: Path
) -> None:
    directory = copy_migrations(tmp_path)
    migrate(empty_db_url, directory=directory)
    rules_file = directory / "002_pricing_rules.sql"
    rules_file.write_text(rules_file.read_text() + "\n-- tweaked after release\n")
    (directory / "900_later.sql").write_text("CREATE TABLE later_table (id int);\n")

    with pytest.raises(MigrationError, match=r"002_pricing_rules\.sql has changed"):
        migrate(empty_db_url, directory=directory)

    assert "later_table" not in tables(empty_db_url)
    assert "900" not in applied_versions(empty_db_url)


def test_a_failing_migration_is_rolled_back_and_not_recorded(
    empty_db_url: str, tmp_path: Path
) -> None:
    directory = copy_migrations(tmp_path)
    broken = directory / "900_broken.sql"
    broken.write_text("CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")

    with pytest.raises(MigrationError, match=r"900_broken\.sql failed.*division by zero"):
        migrate(empty_db_url, directory=directory)

    assert "half_done" not in tables(empty_db_url)
    assert "900" not in applied_versions(empty_db_url)
    assert tables(empty_db_url) >= FOUNDATION_TABLES  # earlier files stay applied

    broken.write_text("CREATE TABLE half_done (id int);\n")
    assert migrate(empty_db_url, directory=directory) == ["900_broken.sql"]


@pytest.mark.parametrize("name", ["1_short.sql", "001-dash.sql", "001_Upper.sql"])
def test_badly_named_migration_files_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNN_name\.sql"):
        discover(tmp_path)


def test_two_files_with_the_same_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share a number"):
        discover(tmp_path)


def test_migrate_command_applies_pending_migrations(empty_db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db_url}
    cli = Path(sys.executable).with_name("diamond-pricing")
    first = subprocess.run([cli, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "001_diamonds.sql" in first.stderr
    again = subprocess.run([cli, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "applied 0 migration(s)" in again.stderr
    assert tables(empty_db_url) >= FOUNDATION_TABLES


# --- constraints ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated_db(pg_server_uri: str, template_db: str) -> Iterator[str]:
    """One migrated database shared by the constraint tests (each test rolls back)."""
    name = create_database_from(pg_server_uri, template_db)
    yield with_database(pg_server_uri, name)
    drop_database(pg_server_uri, name)


@pytest.fixture
def tx(migrated_db: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A connection inside a transaction that is rolled back after the test."""
    with psycopg.connect(migrated_db, row_factory=dict_row) as conn:
        yield conn
        conn.rollback()


DIAMOND = {
    "feed": "atlas",
    "supplier_stone_id": "S-1",
    "feed_price": Decimal("100.00"),
    "price_model_price": Decimal("179.00"),
    "availability": "available",
    "rating": None,
    "markup_ratio": Decimal("1.7900"),
}


def insert_diamond(conn: psycopg.Connection[Any], **changes: Any) -> None:
    """Insert one diamond, defaults overridden by ``changes``."""
    row = {**DIAMOND, **changes}
    conn.execute(
        "INSERT INTO diamonds (feed, supplier_stone_id, feed_price, price_model_price,"
        " availability, rating, markup_ratio) VALUES (%(feed)s, %(supplier_stone_id)s,"
        " %(feed_price)s, %(price_model_price)s, %(availability)s, %(rating)s, %(markup_ratio)s)",
        row,
    )


def insert_rule(conn: psycopg.Connection[Any], **changes: Any) -> None:
    """Insert one pricing rule, defaults overridden by ``changes``."""
    row = {"priority": 1, "stone_type": None, "price_min": None, "price_max": None}
    row |= {"margin_modifier": Decimal("0"), "rating": None} | changes
    conn.execute(
        "INSERT INTO pricing_rules (priority, stone_type, price_min, price_max, margin_modifier,"
        " rating) VALUES (%(priority)s, %(stone_type)s, %(price_min)s, %(price_max)s,"
        " %(margin_modifier)s, %(rating)s)",
        row,
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"availability": "gone"},
        {"availability": None},
        {"rating": 0},
        {"rating": 11},
        {"feed_price": Decimal("-0.01")},
        {"feed_price": None},
        {"price_model_price": None},
        {"markup_ratio": Decimal("10")},
        {"markup_ratio": Decimal("0")},
        {"feed_price": Decimal("10000000000.00")},  # numeric(12,2)
        {"feed": ""},
    ],
    ids=repr,
)
def test_diamond_constraints_reject_bad_rows(
    tx: psycopg.Connection[dict[str, Any]], changes: dict[str, Any]
) -> None:
    with pytest.raises((psycopg.errors.IntegrityError, psycopg.errors.DataError)):
        insert_diamond(tx, **changes)


def test_feed_and_supplier_stone_id_are_unique_together(
    tx: psycopg.Connection[dict[str, Any]],
) -> None:
    insert_diamond(tx)
    insert_diamond(tx, feed="labcore")  # same stone id, other feed: fine
    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_diamond(tx)


@pytest.mark.parametrize("availability", ["available", "on_hold", "sold", "unavailable"])
def test_every_spec_availability_is_accepted(
    tx: psycopg.Connection[dict[str, Any]], availability: str
) -> None:
    insert_diamond(tx, availability=availability, rating=10)
    assert tx.execute("SELECT count(*) AS n FROM diamonds").fetchone() == {"n": 1}


@pytest.mark.parametrize(
    "changes",
    [
        {"price_min": Decimal("10.00"), "price_max": Decimal("9.99")},
        {"rating": 0},
        {"rating": 11},
        {"stone_type": "synthetic"},
        {"margin_modifier": Decimal("1000.00")},  # numeric(5,2)
        {"priority": None},
    ],
    ids=repr,
)
def test_rule_constraints_reject_bad_rows(
    tx: psycopg.Connection[dict[str, Any]], changes: dict[str, Any]
) -> None:
    with pytest.raises((psycopg.errors.IntegrityError, psycopg.errors.DataError)):
        insert_rule(tx, **changes)


def test_rule_with_equal_bounds_is_accepted(tx: psycopg.Connection[dict[str, Any]]) -> None:
    insert_rule(tx, price_min=Decimal("5.00"), price_max=Decimal("5.00"), rating=1)
    insert_rule(tx, rating=10, stone_type="fancy")
    assert tx.execute("SELECT count(*) AS n FROM pricing_rules").fetchone() == {"n": 23}

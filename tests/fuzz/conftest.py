"""Fixtures of the bad-input tests: a seeded catalog served once per module, a key per role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from diamond_pricing.auth.keys import Role, create_key
from diamond_pricing.catalog.demo import DemoOptions, load_demo
from diamond_pricing.catalog.versions import bump_versions
from diamond_pricing.db import DictConn
from diamond_pricing.pricing.rules import load_engine
from tests.support import (
    create_database_from,
    drop_database,
    make_settings,
    run_async,
    running_server,
    with_database,
)

SEED_DIAMONDS = 300
# Every table a request could write to (api_keys is left out: using a key touches last_used_at).
WRITABLE_TABLES = (
    "diamonds",
    "pricing_rules",
    "dataset_versions",
    "pricing_reapply_jobs",
    "pricing_reapply_job_ranges",
    "pricing_reapply_snapshots",
)


@dataclass
class Target:
    """A seeded database served over real HTTP, with one API key per role."""

    url: str
    db_url: str
    keys: dict[str, str]

    def client(self, role: str | None = "admin") -> httpx.Client:
        """An HTTP client authenticated as ``role`` (None: no key)."""
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def state(self) -> dict[str, tuple[int, str | None]]:
        """(row count, digest of every row) per writable table: equal means nothing was written."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return {table: table_digest(conn, table) for table in WRITABLE_TABLES}


def table_digest(conn: psycopg.Connection[Any], table: str) -> tuple[int, str | None]:
    """Row count and an md5 over the rows' text, in a stable order."""
    query = sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t")
    row = conn.execute(query.format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def seed_inventory(db_url: str, count: int, seed: int = 11) -> int:
    """Load ``count`` demo diamonds priced by the current rules and bump their feeds' versions."""
    settings = make_settings(db_url)

    async def work(conn: DictConn) -> int:
        options = DemoOptions(count=count, seed=seed)
        written = await load_demo(conn, options, await load_engine(conn, settings))
        await bump_versions(conn, options.feeds)
        return written

    return run_async(db_url, work)


def make_role_keys(db_url: str) -> dict[str, str]:
    """One key per role, by role name."""
    keys = {}
    for role in Role:
        _, keys[role.value] = run_async(
            db_url, lambda conn, role=role: create_key(conn, name=f"fuzz-{role.value}", role=role)
        )
    return keys


@contextmanager
def seeded_target(
    pg_server_uri: str, template_db: str, *, diamonds: int = SEED_DIAMONDS, **overrides: Any
) -> Iterator[Target]:
    """A fresh database with ``diamonds`` demo diamonds and role keys, served over HTTP."""
    name = create_database_from(pg_server_uri, template_db)
    db_url = with_database(pg_server_uri, name)
    try:
        seed_inventory(db_url, diamonds)
        keys = make_role_keys(db_url)
        with running_server(make_settings(db_url, **overrides), db_url) as url:
            yield Target(url=url, db_url=db_url, keys=keys)
    finally:
        drop_database(pg_server_uri, name)


@pytest.fixture(scope="module")
def target(pg_server_uri: str, template_db: str) -> Iterator[Target]:
    """A seeded server shared by a module's tests; no job runner, so nothing writes behind them."""
    with seeded_target(pg_server_uri, template_db, run_jobs=False) as served:
        yield served

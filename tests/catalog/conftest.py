"""Fixtures of the catalog tests."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.auth.keys import Role, create_key
from tests.catalog.helpers import add_rating_rules, all_rows, put_diamonds, random_diamonds
from tests.support import (
    create_database_from,
    drop_database,
    make_settings,
    run_async,
    running_server,
    with_database,
)

SEARCH_FEEDS = ("alpha", "beta", "gamma")


@pytest.fixture
def ingest_key(make_key: Callable[..., str]) -> str:
    """Secret of an ingest key."""
    return make_key(Role.INGEST, "feed-bot")


@dataclass
class SearchEnv:
    """A seeded catalog served by one server, shared by a module's read-only tests."""

    client: httpx.Client
    rows: list[dict[str, Any]]
    db_url: str


@pytest.fixture(scope="module")
def search_env(pg_server_uri: str, template_db: str) -> Iterator[SearchEnv]:
    """Three feeds of varied diamonds, ingested in several calls (so created_at varies)."""
    name = create_database_from(pg_server_uri, template_db)
    url = with_database(pg_server_uri, name)
    try:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
            add_rating_rules(db)
        _, secret = run_async(url, lambda conn: create_key(conn, name="seed", role=Role.INGEST))
        rng = random.Random(20240611)
        with (
            running_server(make_settings(url), url) as base,
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            for call in range(3):
                for feed in SEARCH_FEEDS:
                    rows = random_diamonds(rng, f"{feed}{call}", 40)
                    assert put_diamonds(client, secret, feed, rows).status_code == 200
            with psycopg.connect(url, autocommit=True, row_factory=dict_row) as db:
                stored = all_rows(db)
            yield SearchEnv(client=client, rows=stored, db_url=url)
    finally:
        drop_database(pg_server_uri, name)


@dataclass
class SharedEnv:
    """A server on an empty database shared by a module's tests, with a key per role."""

    client: httpx.Client
    db_url: str
    keys: dict[Role, str]


@pytest.fixture(scope="module")
def shared_env(pg_server_uri: str, template_db: str) -> Iterator[SharedEnv]:
    """For tests that write nothing, or only into feeds of their own."""
    name = create_database_from(pg_server_uri, template_db)
    url = with_database(pg_server_uri, name)
    try:
        keys = {}
        for role in Role:
            _, keys[role] = run_async(
                url, lambda conn, role=role: create_key(conn, name=f"shared-{role}", role=role)
            )
        with (
            running_server(make_settings(url), url) as base,
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            yield SharedEnv(client=client, db_url=url, keys=keys)
    finally:
        drop_database(pg_server_uri, name)

"""Shared fixtures: one PostgreSQL per run, a migrated template, a fresh database per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.auth.keys import Role, create_key
from diamond_pricing.settings import Settings
from tests.support import (
    create_database_from,
    drop_database,
    ensure_template,
    make_settings,
    run_async,
    running_server,
    start_test_postgres,
    with_database,
)


@pytest.fixture(scope="session")
def pg_server_uri() -> Iterator[str]:
    """URI of the test PostgreSQL server (maintenance database)."""
    server = start_test_postgres()
    yield server.get_uri()


@pytest.fixture(scope="session")
def template_db(pg_server_uri: str) -> str:
    """Name of the migrated template database, built once per migration set."""
    return ensure_template(pg_server_uri)


@pytest.fixture
def db_url(pg_server_uri: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test only."""
    name = create_database_from(pg_server_uri, template_db)
    yield with_database(pg_server_uri, name)
    drop_database(pg_server_uri, name)


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """An autocommit connection to the test database, for setup and assertions."""
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Default settings for this test's database."""
    return make_settings(db_url)


@pytest.fixture
def server(settings: Settings, db_url: str) -> Iterator[str]:
    """Base URL of the real app served over HTTP for this test."""
    with running_server(settings, db_url) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    """An HTTP client for the test server."""
    with httpx.Client(base_url=server, timeout=30) as http:
        yield http


@pytest.fixture
def make_key(db_url: str) -> Callable[..., str]:
    """Create an API key in the test database; returns its secret."""

    def make(role: Role = Role.ADMIN, name: str | None = None, **kwargs: Any) -> str:
        key_name = name or f"test-{role.value}"
        _, secret = run_async(
            db_url, lambda conn: create_key(conn, name=key_name, role=role, **kwargs)
        )
        return secret

    return make


@pytest.fixture
def admin_key(make_key: Callable[..., str]) -> str:
    """Secret of an admin key."""
    return make_key(Role.ADMIN, "admin-tests")


@pytest.fixture
def admin(client: httpx.Client, admin_key: str) -> httpx.Client:
    """The test client, authenticated as admin."""
    client.headers["X-API-Key"] = admin_key
    return client

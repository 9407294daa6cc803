"""Fixtures of the foundation tests: empty (unmigrated) databases on the test server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from tests.support import drop_database, with_database


@pytest.fixture
def new_empty_db(pg_server_uri: str) -> Iterator[Callable[[], str]]:
    """Factory of brand-new empty databases (no template, no migrations); all dropped after."""
    created: list[str] = []

    def create() -> str:
        name = f"e_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(pg_server_uri, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return with_database(pg_server_uri, name)

    yield create
    for name in created:
        drop_database(pg_server_uri, name)


@pytest.fixture
def empty_db_url(new_empty_db: Callable[[], str]) -> str:
    """One brand-new empty database for this test."""
    return new_empty_db()

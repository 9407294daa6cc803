"""Fixtures for the pricing tests: a server shared by a module for tests that change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from diamond_pricing.auth.keys import Role, create_key
from tests.support import (
    create_database_from,
    drop_database,
    make_settings,
    run_async,
    running_server,
    with_database,
)


@pytest.fixture(scope="module")
def shared_db_url(pg_server_uri: str, template_db: str) -> Iterator[str]:
    """A migrated database shared by one module (only for tests that leave it unchanged)."""
    name = create_database_from(pg_server_uri, template_db)
    yield with_database(pg_server_uri, name)
    drop_database(pg_server_uri, name)


@pytest.fixture(scope="module")
def shared_admin(shared_db_url: str) -> Iterator[httpx.Client]:
    """An admin client of a server shared by one module."""
    _, secret = run_async(
        shared_db_url, lambda conn: create_key(conn, name="shared-admin", role=Role.ADMIN)
    )
    with (
        running_server(make_settings(shared_db_url), shared_db_url) as url,
        httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": secret}) as http,
    ):
        yield http

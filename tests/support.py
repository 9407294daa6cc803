"""Test support: a real PostgreSQL (pgserver), template databases and real HTTP servers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import uvicorn
from psycopg import sql
from psycopg.rows import dict_row

from diamond_pricing.app import create_app
from diamond_pricing.db import DictConn, tune_embedded
from diamond_pricing.migrate import MIGRATIONS_DIR, migrate
from diamond_pricing.settings import Settings

T = TypeVar("T")

TEST_PGDATA = Path(os.environ.get("DIAMOND_TEST_PGDATA", "/tmp/dp-test-pg"))


def start_test_postgres() -> Any:
    """Start (or attach to) the shared test PostgreSQL server."""
    import pgserver

    TEST_PGDATA.parent.mkdir(parents=True, exist_ok=True)
    lock_path = TEST_PGDATA.parent / f".{TEST_PGDATA.name}.start.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = pgserver.get_server(TEST_PGDATA, cleanup_mode="stop")
        tune_embedded(server)
    return server


def with_database(uri: str, name: str) -> str:
    """The same server URI pointed at another database."""
    info = psycopg.conninfo.conninfo_to_dict(uri)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


def migrations_fingerprint() -> str:
    """A short hash of every migration file, so a changed migration gets a new template."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_template(server_uri: str) -> str:
    """Create the migrated template database once (guarded by a file lock across processes)."""
    name = f"dp_template_{migrations_fingerprint()}"
    lock_path = TEST_PGDATA.parent / f".{TEST_PGDATA.name}.template.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with psycopg.connect(server_uri, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                building = f"{name}_building"
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(building)
                    )
                )
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
                migrate(with_database(server_uri, building))
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(building), sql.Identifier(name)
                    )
                )
    return name


def create_database_from(server_uri: str, template: str) -> str:
    """A fresh database copied from the template; returns its name."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_uri, autocommit=True) as conn:
        for attempt in range(20):
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
                break
            except psycopg.errors.ObjectInUse:
                # another session is copying the same template at this instant
                time.sleep(0.05 * (attempt + 1))
        else:
            raise RuntimeError(f"could not copy template {template}")
    return name


def drop_database(server_uri: str, name: str) -> None:
    """Drop a test database, disconnecting whoever is still on it."""
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def run_async(conninfo: str, work: Callable[[DictConn], Awaitable[T]]) -> T:
    """Run async service code in one committed transaction (for test setup)."""

    async def main() -> T:
        conn = await psycopg.AsyncConnection.connect(conninfo, row_factory=dict_row)
        async with conn, conn.transaction():
            return await work(conn)

    # A thread of its own, so this also works where an event loop is already running
    # (Playwright's sync API keeps one on the main thread).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, main()).result()


def make_settings(db_url: str, **overrides: Any) -> Settings:
    """Settings for a test server on ``db_url`` (already migrated from the template)."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "migrate_on_start": False,
        "session_secret": "test-session-secret",
    }
    values.update(overrides)
    return Settings(**values)


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free loopback port."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP; without it every response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_server(settings: Settings, conninfo: str) -> Iterator[str]:
    """Serve the real app over real HTTP on a free loopback port; yields the base URL."""
    app = create_app(settings, conninfo)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("test server failed to start")
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start within 30 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()

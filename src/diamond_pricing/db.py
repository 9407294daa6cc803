"""Database access: the embedded PostgreSQL, connection strings and the async pool."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)

DictConn = AsyncConnection[dict[str, Any]]
HANDLE_LIST = ".handle_pids.json"  # pgserver's list of processes using the embedded server


@dataclass
class Database:
    """Where the service's PostgreSQL is, and the embedded server handle when we started one."""

    conninfo: str
    embedded: Any | None = None

    @property
    def is_embedded(self) -> bool:
        """True when this process started (or attached to) the embedded server."""
        return self.embedded is not None

    def stop(self) -> None:
        """Release the embedded server; pgserver stops it when the last process lets go."""
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None


# Server settings for the embedded PostgreSQL: room for several processes' pools, and memory
# and WAL sized for bulk repricing of a million rows on a small machine.
EMBEDDED_SERVER_SETTINGS = {
    "max_connections": "300",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
}


def tune_embedded(server: Any) -> None:
    """Apply EMBEDDED_SERVER_SETTINGS, restarting the server once if any differs."""
    from pgserver import pg_ctl  # type: ignore[attr-defined,unused-ignore]

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        pending = {}
        for name, wanted in EMBEDDED_SERVER_SETTINGS.items():
            row = conn.execute(
                "SELECT setting, unit FROM pg_settings WHERE name = %s", (name,)
            ).fetchone()
            shown = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            if row is None or shown is None or shown[0] != wanted:
                pending[name] = wanted
        for name, wanted in pending.items():
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(name), sql.Literal(wanted)
                )
            )
    if pending:
        log.info("tuning embedded PostgreSQL (%s); restarting it once", ", ".join(pending))
        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=60,
        )
        server.ensure_postgres_running()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop the pgserver handles of processes that died without letting go; return them.

    pgserver stops the server when the last process holding a handle (listed in
    ``.handle_pids.json``) lets go; a handle left by a killed process would keep it
    running for ever after.
    """
    path = pgdata / HANDLE_LIST
    try:
        pids = [int(pid) for pid in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if not _process_alive(pid)]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        log.info("forgot embedded-server handles of exited processes %s", dead)
    return dead


def start_embedded(data_dir: Path) -> Database:
    """Start (or attach to) the embedded PostgreSQL under ``data_dir/pg``."""
    import pgserver  # type: ignore[attr-defined,unused-ignore]
    from pgserver.postgres_server import PostgresServer  # type: ignore[import-untyped,unused-ignore]

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    with PostgresServer._lock:
        forget_dead_handles(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined,unused-ignore]
    tune_embedded(server)
    log.info("embedded PostgreSQL running in %s", pgdata)
    return Database(conninfo=server.get_uri(), embedded=server)


def resolve_database(settings: Settings) -> Database:
    """Use ``DATABASE_URL`` when set, else start the embedded server."""
    if settings.database_url:
        return Database(conninfo=settings.database_url)
    return start_embedded(settings.data_dir)


POOL_RECONNECT_TIMEOUT = 10.0


def open_pool(conninfo: str, settings: Settings, *, name: str = "main") -> AsyncConnectionPool[Any]:
    """Create (not yet opened) an async pool whose connections return dict rows."""
    return AsyncConnectionPool(
        conninfo,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        # While the database is unreachable a request gets its 503 after this wait, instead of
        # hanging for psycopg_pool's default 30 s.
        timeout=settings.pool_timeout_seconds,
        # psycopg_pool retries a failed connection with a backoff that doubles until this
        # timeout (default 300 s), so after a long outage the pool stayed empty for up to as long
        # again (measured: 50 s after a 70 s outage). Giving up after 10 s bounds the backoff; the
        # next request starts a fresh attempt.
        reconnect_timeout=POOL_RECONNECT_TIMEOUT,
        kwargs={"row_factory": dict_row, "autocommit": False},
        open=False,
        name=name,
    )


@asynccontextmanager
async def transaction(pool: AsyncConnectionPool[Any]) -> AsyncIterator[DictConn]:
    """Borrow a connection and run one transaction that commits or rolls back as a whole."""
    async with pool.connection() as conn, conn.transaction():
        yield conn

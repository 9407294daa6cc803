"""``diamond-pricing serve``: first-run setup (demo data, admin key), then uvicorn."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from diamond_pricing.app import create_app
from diamond_pricing.auth import queries as key_queries
from diamond_pricing.auth.keys import Role, create_key
from diamond_pricing.catalog.seeding import seed_demo
from diamond_pricing.db import Database, DictConn
from diamond_pricing.runtime import run_with_conn, stderr
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)


async def _inventory_is_empty(conn: DictConn) -> bool:
    cur = await conn.execute("SELECT NOT EXISTS (SELECT 1 FROM diamonds) AS empty")
    row = await cur.fetchone()
    return bool(row and row["empty"])


def base_url(settings: Settings) -> str:
    """Where to point a browser."""
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host
    return f"http://{host}:{settings.port}"


def ensure_admin_key(conninfo: str, settings: Settings) -> str | None:
    """Create the first admin key when none is usable; return its secret (shown once)."""

    async def work(conn: DictConn) -> str | None:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('bootstrap-admin-key'))")
        if await key_queries.count_active_admin_keys(conn) > 0:
            return None
        _, secret = await create_key(conn, name="admin", role=Role.ADMIN)
        return secret

    return run_with_conn(conninfo, work)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so a stop request always unwinds through the cleanup path."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(settings: Settings, db: Database, *, demo: bool = False) -> None:
    """Prepare the database, serve until SIGINT or SIGTERM, then return (the caller cleans up).

    uvicorn shuts down gracefully on either signal and then re-raises it; with SIGTERM mapped
    to KeyboardInterrupt that ends up here, so the caller's ``finally`` can stop the embedded
    PostgreSQL and the process exits with status 0. An interrupted demo load rolls back.
    """
    with sigterm_as_interrupt():
        try:
            run_server(settings, db, demo=demo)
        except KeyboardInterrupt:
            log.info("stopped")


def run_server(settings: Settings, db: Database, *, demo: bool = False) -> None:
    """First-run setup (demo data on an empty embedded or --demo database, admin key), then uvicorn."""
    wants_demo = (db.is_embedded or demo) and settings.demo_count > 0
    if wants_demo and run_with_conn(db.conninfo, _inventory_is_empty):
        log.info("empty inventory: loading %s demo diamonds", f"{settings.demo_count:,}")
        written, seconds = seed_demo(
            db.conninfo, settings, count=settings.demo_count, seed=settings.demo_seed
        )
        log.info("loaded %s demo diamonds in %.1fs", f"{written:,}", seconds)
    secret = ensure_admin_key(db.conninfo, settings)
    url = base_url(settings)
    if secret:
        stderr.print(
            f"\n[bold]Created the first admin API key (shown once):[/bold] {secret}\n"
            f"Dashboard login link: {url}/login#key={secret}\n",
            highlight=False,
            soft_wrap=True,
        )
    log.info("serving on %s (API under %s/api/v2, docs at %s/docs)", url, url, url)
    app = create_app(settings, db.conninfo)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", lifespan="on")

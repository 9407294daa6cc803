"""Keeping a process's known dataset versions current: LISTEN for bumps, poll as the fallback."""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import aclosing
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from diamond_pricing.catalog.cache import CatalogCache
from diamond_pricing.catalog.versions import VERSION_CHANNEL, current_versions, parse_notice
from diamond_pricing.db import transaction
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)

LISTENER_APPLICATION_NAME = "diamond-pricing-cache-listener"
BACKOFF_START = 0.25
BACKOFF_MAX = 15.0


class VersionRefresher:
    """Feeds a CatalogCache with versions from NOTIFY and from periodic polls."""

    def __init__(
        self,
        cache: CatalogCache,
        *,
        pool: AsyncConnectionPool[Any],
        conninfo: str,
        settings: Settings,
    ) -> None:
        self.cache = cache
        self.pool = pool
        self.conninfo = conninfo
        self.poll_seconds = max(0.05, settings.cache_poll_seconds)
        self.listening = False
        self.failed_polls = 0
        self.reconnects = 0

    async def poll_once(self) -> bool:
        """Read every feed's version into the cache; log and return False on failure."""
        try:
            async with transaction(self.pool) as conn:
                versions = await current_versions(conn)
        except Exception as exc:
            self.failed_polls += 1
            log.warning("catalog cache: version poll failed (%s); will retry", exc)
            return False
        self.cache.apply_snapshot(versions)
        if self.failed_polls:
            log.info("catalog cache: version poll succeeded again")
        self.failed_polls = 0
        return True

    async def poll_forever(self) -> None:
        """Poll every ``cache_poll_seconds``; after a failure retry sooner, backing off."""
        while True:
            if self.failed_polls:
                delay = min(self.poll_seconds, BACKOFF_START * 2**self.failed_polls)
            else:
                delay = self.poll_seconds
            await asyncio.sleep(delay)
            await self.poll_once()

    async def listen_forever(self) -> None:
        """Hold one LISTEN connection; reconnect with jittered exponential backoff when it drops."""
        delay = BACKOFF_START
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("catalog cache: LISTEN connection lost (%s); reconnecting", exc)
            if self.listening:  # it had connected: start the backoff over
                delay = BACKOFF_START
            self.listening = False
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_MAX)
            self.reconnects += 1

    async def _listen(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self.conninfo,
            autocommit=True,
            row_factory=dict_row,
            application_name=LISTENER_APPLICATION_NAME,
            connect_timeout=10,
            # notice a silently dead peer within about a minute
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        async with conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(VERSION_CHANNEL)))
            # Bumps committed while we were not listening are only visible by reading.
            self.cache.apply_snapshot(await current_versions(conn))
            self.listening = True
            log.info("catalog cache: listening on %s", VERSION_CHANNEL)
            while True:
                resync = False
                async with aclosing(conn.notifies()) as notices:
                    async for notice in notices:
                        parsed = parse_notice(notice.payload)
                        if parsed is None:
                            log.warning("catalog cache: unexpected notice %r", notice.payload)
                            resync = True
                            break
                        self.cache.note_version(parsed.feed, parsed.version)
                if not resync:
                    return
                self.cache.apply_snapshot(await current_versions(conn))

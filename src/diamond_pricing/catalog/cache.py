"""The catalog read cache: known dataset versions, an LRU of serialized responses, counters.

Entries are keyed by the versions of the feeds a query can touch plus the normalized query,
so a version bump makes every older entry unreachable (the LRU then evicts it). The versions a
process knows only move forward: a NOTIFY and a poll that raced each other cannot take a feed
back to an older version (only two polls in a row that both see a lower version -- a restored
database -- reset it, and then the whole LRU is cleared).

``cache_service(app)`` keeps the versions current: one LISTEN connection (reconnected with
backoff) and a poll every ``cache_poll_seconds`` as the fallback. When no refresh has succeeded
for ``cache_stale_after_seconds`` the cache is bypassed until one does.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from fastapi import FastAPI

from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)

# Part of every key and ETag: bump it when the serialized form of responses changes.
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class CacheKey:
    """Where a response lives in the LRU, and its strong ETag."""

    text: str
    etag: str


def make_key(kind: str, query: str, token: str) -> CacheKey:
    """Key and ETag for a normalized query under a version token (same in every process)."""
    text = f"{FORMAT_VERSION}|{kind}|{query}|{token}"
    return CacheKey(
        text=text, etag='"' + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + '"'
    )


def version_token(versions: Mapping[str, int], feeds: Iterable[str] | None) -> str:
    """The versions a query can touch, as text: the given feeds, or every feed when None."""
    names = sorted(versions) if feeds is None else sorted(set(feeds))
    prefix = "*" if feeds is None else ""
    return prefix + ",".join(f"{name}={versions.get(name, 0)}" for name in names)


class CatalogCache:
    """One process's catalog cache (lives on ``app.state.catalog_cache``)."""

    def __init__(
        self,
        *,
        max_entries: int,
        stale_after_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: LRUCache[str, bytes] = LRUCache(maxsize=max(1, max_entries))
        # Normalized queries by raw query string: a hit skips parameter validation entirely.
        self.parsed: LRUCache[bytes, Any] = LRUCache(maxsize=max(1, max_entries))
        self._versions: dict[str, int] = {}
        self._all_token = "*"
        self._lower_last_poll: set[str] = set()
        self._stale_after = stale_after_seconds
        self._clock = clock
        self.refreshed_at: float | None = None
        self.hits = 0
        self.misses = 0
        self.bypasses = 0
        self.not_modified = 0

    @property
    def versions(self) -> dict[str, int]:
        """A copy of the versions this process knows."""
        return dict(self._versions)

    def is_fresh(self) -> bool:
        """True when the versions were refreshed within the staleness limit."""
        return (
            self.refreshed_at is not None and self._clock() - self.refreshed_at <= self._stale_after
        )

    def token(self, feeds: Iterable[str] | None) -> str:
        """The version token for a query restricted to ``feeds`` (None: every feed)."""
        if feeds is None:
            return self._all_token
        return version_token(self._versions, feeds)

    def note_version(self, feed: str, version: int) -> None:
        """Apply one notification: a feed's version, taken only if it moves forward."""
        if version > self._versions.get(feed, 0):
            self._versions[feed] = version
            self._all_token = version_token(self._versions, None)

    def apply_snapshot(self, versions: Mapping[str, int]) -> None:
        """Apply a full read of every feed's version and mark the versions fresh."""
        lower = {
            feed for feed, version in versions.items() if version < self._versions.get(feed, 0)
        }
        restored = lower & self._lower_last_poll
        self._lower_last_poll = lower
        if restored:
            log.warning(
                "dataset versions went backwards for %s; clearing the cache", sorted(restored)
            )
            for feed in restored:
                self._versions[feed] = versions[feed]
            self._entries.clear()
        for feed, version in versions.items():
            if version > self._versions.get(feed, 0):
                self._versions[feed] = version
        self._all_token = version_token(self._versions, None)
        self.refreshed_at = self._clock()

    def get(self, key: CacheKey) -> bytes | None:
        """A cached response body, or None."""
        return self._entries.get(key.text)

    def put(self, key: CacheKey, body: bytes) -> None:
        """Store a response body."""
        self._entries[key.text] = body

    def stats(self) -> dict[str, int]:
        """Counters for /metrics."""
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bypasses": self.bypasses,
            "not_modified": self.not_modified,
            "entries": len(self._entries),
        }


@asynccontextmanager
async def cache_service(app: FastAPI) -> AsyncIterator[None]:
    """Create this process's catalog cache and keep its versions current (LISTEN + poll)."""
    from diamond_pricing.catalog.refresh import VersionRefresher

    settings: Settings = app.state.settings
    cache = CatalogCache(
        max_entries=settings.cache_max_entries,
        stale_after_seconds=settings.cache_stale_after_seconds,
    )
    app.state.catalog_cache = cache
    refresher = VersionRefresher(
        cache, pool=app.state.pool, conninfo=app.state.conninfo, settings=settings
    )
    app.state.catalog_refresher = refresher
    await refresher.poll_once()
    tasks = [asyncio.create_task(refresher.poll_forever(), name="catalog-cache-poll")]
    if settings.cache_listen:
        tasks.append(asyncio.create_task(refresher.listen_forever(), name="catalog-cache-listen"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

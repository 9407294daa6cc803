"""Serving catalog reads through the cache: ETag / If-None-Match, Cache-Control, X-Cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request, Response

from diamond_pricing.catalog.cache import CacheKey, CatalogCache, make_key, version_token
from diamond_pricing.catalog.versions import current_versions
from diamond_pricing.db import DictConn, transaction
from diamond_pricing.errors import ApiError
from diamond_pricing.settings import Settings

# Computes a response body inside a transaction; None means "not found".
Compute = Callable[[DictConn], Awaitable[bytes | None]]


def parse_if_none_match(header: str) -> tuple[bool, set[str]]:
    """(``*`` present, the opaque tags listed), weak tags compared as strong (RFC 9110 §13.1.2)."""
    tags: set[str] = set()
    star = False
    for part in header.split(","):
        tag = part.strip()
        if tag == "*":
            star = True
        elif tag:
            if tag[:2] in ("W/", "w/"):
                tag = tag[2:]
            tags.add(tag)
    return star, tags


def cache_headers(settings: Settings, etag: str, status: str) -> dict[str, str]:
    """ETag, Cache-Control (max-age no longer than the poll interval) and X-Cache."""
    max_age = max(0, int(settings.cache_poll_seconds))
    scope = "private" if settings.catalog_requires_key else "public"
    return {"ETag": etag, "Cache-Control": f"{scope}, max-age={max_age}", "X-Cache": status}


def _not_modified(settings: Settings, etag: str, status: str) -> Response:
    return Response(status_code=304, headers=cache_headers(settings, etag, status))


def _ok(settings: Settings, body: bytes, etag: str, status: str) -> Response:
    return Response(
        content=body,
        media_type="application/json",
        headers=cache_headers(settings, etag, status),
    )


async def cached_json(
    request: Request,
    *,
    kind: str,
    query: str,
    feeds: Sequence[str] | None,
    compute: Compute,
    missing: Callable[[], ApiError],
) -> Response:
    """Answer a catalog read from the cache, or compute, store and answer it.

    The versions a miss is keyed under are read BEFORE its query runs, so a page computed while
    a change was committing is keyed under the old version and never served after the bump.
    """
    app = request.app
    cache: CatalogCache = app.state.catalog_cache
    settings: Settings = app.state.settings
    header = request.headers.get("if-none-match")
    star, tags = parse_if_none_match(header) if header else (False, set())

    if not cache.is_fresh():
        return await _bypass(request, cache, settings, kind, query, feeds, compute, missing)

    key = make_key(kind, query, cache.token(feeds))
    if key.etag in tags:
        cache.not_modified += 1
        return _not_modified(settings, key.etag, "HIT")
    body = cache.get(key)
    status = "HIT"
    if body is None:
        status = "MISS"
        async with transaction(app.state.pool) as conn:
            body = await compute(conn)
        if body is None:
            cache.misses += 1
            raise missing()
        cache.put(key, body)
        cache.misses += 1
    else:
        cache.hits += 1
    if star:
        cache.not_modified += 1
        return _not_modified(settings, key.etag, status)
    return _ok(settings, body, key.etag, status)


async def _bypass(
    request: Request,
    cache: CatalogCache,
    settings: Settings,
    kind: str,
    query: str,
    feeds: Sequence[str] | None,
    compute: Compute,
    missing: Callable[[], ApiError],
) -> Response:
    """Versions are stale: read them from the database (before the query) and cache nothing."""
    cache.bypasses += 1
    cache.misses += 1
    header = request.headers.get("if-none-match")
    star, tags = parse_if_none_match(header) if header else (False, set())
    async with transaction(request.app.state.pool) as conn:
        key: CacheKey = make_key(kind, query, version_token(await current_versions(conn), feeds))
        if key.etag in tags:
            cache.not_modified += 1
            return _not_modified(settings, key.etag, "MISS")
        body = await compute(conn)
    if body is None:
        raise missing()
    if star:
        cache.not_modified += 1
        return _not_modified(settings, key.etag, "MISS")
    return _ok(settings, body, key.etag, "MISS")

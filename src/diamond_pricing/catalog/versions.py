"""Dataset versions: bumped inside the caller's transaction, announced by NOTIFY on commit."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from diamond_pricing.catalog import queries
from diamond_pricing.db import DictConn

VERSION_CHANNEL = "dataset_versions"


async def bump_versions(conn: DictConn, feeds: Iterable[str]) -> dict[str, int]:
    """Increment each feed's version in the current transaction; NOTIFY is sent on commit."""
    distinct = sorted(set(feeds))
    if not distinct:
        return {}
    return await queries.bump_versions(conn, feeds=distinct, channel=VERSION_CHANNEL)


async def current_versions(conn: DictConn) -> dict[str, int]:
    """Every feed's dataset version as {feed: version}."""
    return {row["feed"]: int(row["version"]) for row in await queries.list_versions(conn)}


@dataclass(frozen=True)
class VersionNotice:
    """One ``dataset_versions`` notification."""

    feed: str
    version: int


def parse_notice(payload: str) -> VersionNotice | None:
    """Decode a NOTIFY payload ``{"feed", "version"}``; None when it is not one."""
    try:
        data = json.loads(payload)
        feed, version = data["feed"], data["version"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(feed, str) or not isinstance(version, int) or isinstance(version, bool):
        return None
    return VersionNotice(feed=feed, version=version)

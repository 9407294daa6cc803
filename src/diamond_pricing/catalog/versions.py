"""Dataset versions: bumped inside the caller's transaction, announced by NOTIFY on commit."""

from __future__ import annotations

import json
from collections.abc import Iterable

from diamond_pricing.db import DictConn

VERSION_CHANNEL = "dataset_versions"


async def bump_versions(conn: DictConn, feeds: Iterable[str]) -> dict[str, int]:
    """Increment each feed's version in the current transaction; NOTIFY is sent on commit."""
    distinct = sorted(set(feeds))
    if not distinct:
        return {}
    cur = await conn.execute(
        "INSERT INTO dataset_versions AS v (feed, version) SELECT unnest(%(feeds)s::text[]), 1"
        " ON CONFLICT (feed) DO UPDATE SET version = v.version + 1, updated_at = now()"
        " RETURNING feed, version",
        {"feeds": distinct},
    )
    bumped = {row["feed"]: int(row["version"]) for row in await cur.fetchall()}
    for feed, version in bumped.items():
        await conn.execute(
            "SELECT pg_notify(%(channel)s, %(payload)s)",
            {"channel": VERSION_CHANNEL, "payload": json.dumps({"feed": feed, "version": version})},
        )
    return bumped

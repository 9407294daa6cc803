"""Read-only SQL the dashboard pages need beyond the domain services."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from diamond_pricing.db import DictConn


async def list_feeds(conn: DictConn) -> list[str]:
    """Every feed that has published a dataset version, by name."""
    cur = await conn.execute("SELECT feed FROM dataset_versions ORDER BY feed")
    return [row["feed"] for row in await cur.fetchall()]


async def last_rules_change(conn: DictConn) -> datetime | None:
    """When any rule (active or not) was last created, edited or deactivated."""
    cur = await conn.execute("SELECT max(updated_at) AS at FROM pricing_rules")
    row = await cur.fetchone()
    return row["at"] if row else None


async def rules_edited_since_install(conn: DictConn) -> bool:
    """True when any rule was added, edited or deactivated after the first rules were installed."""
    cur = await conn.execute(
        "SELECT coalesce(max(updated_at) > min(created_at), false) AS edited FROM pricing_rules"
    )
    row = await cur.fetchone()
    return bool(row and row["edited"])


async def active_job_id(conn: DictConn) -> UUID | None:
    """The pending or running job, if any."""
    cur = await conn.execute(
        "SELECT id FROM pricing_reapply_jobs WHERE status IN ('pending', 'running') LIMIT 1"
    )
    row = await cur.fetchone()
    return row["id"] if row else None

"""Read-only SQL the dashboard pages need beyond the domain services."""

from __future__ import annotations

from datetime import datetime
from typing import Any
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


async def last_completed_reapply(conn: DictConn) -> dict[str, Any] | None:
    """The newest completed reapply job: when it froze its rules and when it finished."""
    cur = await conn.execute(
        "SELECT id, created_at, completed_at FROM pricing_reapply_jobs"
        " WHERE kind = 'reapply' AND status = 'completed'"
        " ORDER BY completed_at DESC NULLS LAST LIMIT 1"
    )
    return await cur.fetchone()


async def active_job_id(conn: DictConn) -> UUID | None:
    """The pending or running job, if any."""
    cur = await conn.execute(
        "SELECT id FROM pricing_reapply_jobs WHERE status IN ('pending', 'running') LIMIT 1"
    )
    row = await cur.fetchone()
    return row["id"] if row else None

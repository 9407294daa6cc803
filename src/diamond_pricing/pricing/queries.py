"""SQL for pricing rules: one statement per function."""

from __future__ import annotations

from typing import Any

from diamond_pricing.db import DictConn

RULE_COLUMNS = (
    "id, priority, stone_type, price_min, price_max, feed, margin_modifier, rating, active,"
    " created_at, updated_at"
)


async def list_active_rules(conn: DictConn) -> list[dict[str, Any]]:
    """Active rules in precedence order (priority, created_at, id)."""
    cur = await conn.execute(
        f"SELECT {RULE_COLUMNS} FROM pricing_rules WHERE active ORDER BY priority, created_at, id"
    )
    return await cur.fetchall()

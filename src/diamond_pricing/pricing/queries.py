"""SQL for pricing rules: one statement per function."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

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


async def list_all_rules(conn: DictConn) -> list[dict[str, Any]]:
    """Every rule, active or not, in precedence order (priority, created_at, id)."""
    cur = await conn.execute(
        f"SELECT {RULE_COLUMNS} FROM pricing_rules ORDER BY priority, created_at, id"
    )
    return await cur.fetchall()


async def get_rule_for_update(conn: DictConn, *, rule_id: UUID) -> dict[str, Any] | None:
    """One rule, locked until the end of the transaction; None if unknown."""
    cur = await conn.execute(
        f"SELECT {RULE_COLUMNS} FROM pricing_rules WHERE id = %(id)s FOR UPDATE", {"id": rule_id}
    )
    return await cur.fetchone()


async def insert_rule(
    conn: DictConn,
    *,
    priority: int,
    stone_type: str | None,
    price_min: Decimal | None,
    price_max: Decimal | None,
    feed: str | None,
    margin_modifier: Decimal,
    rating: int | None,
    active: bool,
) -> dict[str, Any]:
    """Store a new rule and return it."""
    cur = await conn.execute(
        "INSERT INTO pricing_rules"
        " (priority, stone_type, price_min, price_max, feed, margin_modifier, rating, active)"
        " VALUES (%(priority)s, %(stone_type)s, %(price_min)s, %(price_max)s, %(feed)s,"
        " %(margin_modifier)s, %(rating)s, %(active)s)"
        f" RETURNING {RULE_COLUMNS}",
        {
            "priority": priority,
            "stone_type": stone_type,
            "price_min": price_min,
            "price_max": price_max,
            "feed": feed,
            "margin_modifier": margin_modifier,
            "rating": rating,
            "active": active,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_rule(
    conn: DictConn,
    *,
    rule_id: UUID,
    priority: int,
    stone_type: str | None,
    price_min: Decimal | None,
    price_max: Decimal | None,
    feed: str | None,
    margin_modifier: Decimal,
    rating: int | None,
    active: bool,
) -> dict[str, Any]:
    """Overwrite every writable column of one rule, bump updated_at, and return the rule."""
    cur = await conn.execute(
        "UPDATE pricing_rules SET priority = %(priority)s, stone_type = %(stone_type)s,"
        " price_min = %(price_min)s, price_max = %(price_max)s, feed = %(feed)s,"
        " margin_modifier = %(margin_modifier)s, rating = %(rating)s, active = %(active)s,"
        " updated_at = now()"
        f" WHERE id = %(rule_id)s RETURNING {RULE_COLUMNS}",
        {
            "rule_id": rule_id,
            "priority": priority,
            "stone_type": stone_type,
            "price_min": price_min,
            "price_max": price_max,
            "feed": feed,
            "margin_modifier": margin_modifier,
            "rating": rating,
            "active": active,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def deactivate_rule(conn: DictConn, *, rule_id: UUID) -> dict[str, Any] | None:
    """Soft-delete an active rule (active = false, updated_at bumped); None if not active."""
    cur = await conn.execute(
        "UPDATE pricing_rules SET active = false, updated_at = now()"
        f" WHERE id = %(id)s AND active RETURNING {RULE_COLUMNS}",
        {"id": rule_id},
    )
    return await cur.fetchone()

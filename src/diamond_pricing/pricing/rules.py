"""Turning stored rules into the engine: the one place the engine is built from the database."""

from __future__ import annotations

from typing import Any

from diamond_pricing.db import DictConn
from diamond_pricing.pricing import queries
from diamond_pricing.pricing.engine import BaseMargins, PricingEngine, Rule, StoneType
from diamond_pricing.settings import Settings


def rule_from_row(row: dict[str, Any]) -> Rule:
    """Engine rule from a ``pricing_rules`` row."""
    return Rule(
        id=row["id"],
        priority=row["priority"],
        stone_type=StoneType(row["stone_type"]) if row["stone_type"] else None,
        feed=row["feed"],
        price_min=row["price_min"],
        price_max=row["price_max"],
        margin_modifier=row["margin_modifier"],
        rating=row["rating"],
        created_at=row["created_at"],
    )


def base_margins_from(settings: Settings) -> BaseMargins:
    """The configured base margins."""
    return BaseMargins(
        natural=settings.base_margin_natural,
        lab=settings.base_margin_lab,
        fancy=settings.base_margin_fancy,
    )


async def load_engine(conn: DictConn, settings: Settings) -> PricingEngine:
    """An engine over the current active rules and configured base margins."""
    rows = await queries.list_active_rules(conn)
    return PricingEngine.build((rule_from_row(row) for row in rows), base_margins_from(settings))

"""Rule builders for the engine tests: the shipped default rule set and ad-hoc rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from diamond_pricing.pricing.engine import Rule, StoneType

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# SPEC §2: cost brackets per stone type with their margin modifiers.
DEFAULT_BRACKETS = (
    (Decimal("0.00"), Decimal("499.99"), Decimal("6")),
    (Decimal("500.00"), Decimal("999.99"), Decimal("6")),
    (Decimal("1000.00"), Decimal("2999.99"), Decimal("3")),
    (Decimal("3000.00"), Decimal("5999.99"), Decimal("0")),
    (Decimal("6000.00"), Decimal("9999.99"), Decimal("-4")),
    (Decimal("10000.00"), Decimal("19999.99"), Decimal("-9")),
    (Decimal("20000.00"), None, Decimal("-14")),
)
BASE_PRIORITY = {StoneType.NATURAL: 10, StoneType.LAB: 20, StoneType.FANCY: 30}


def make_rule(priority: int, margin_modifier: str | Decimal = "0", **criteria: Any) -> Rule:
    """A rule with a fresh id, created at EPOCH unless ``created_at`` is given."""
    criteria.setdefault("created_at", EPOCH)
    criteria.setdefault("id", uuid.uuid4())
    for bound in ("price_min", "price_max"):
        if isinstance(criteria.get(bound), str):
            criteria[bound] = Decimal(criteria[bound])
    if isinstance(criteria.get("stone_type"), str):
        criteria["stone_type"] = StoneType(criteria["stone_type"])
    return Rule(priority=priority, margin_modifier=Decimal(margin_modifier), **criteria)


def default_rules() -> list[Rule]:
    """The 21 rules migration 002 ships, as engine rules."""
    rules = []
    for stone_type, base in BASE_PRIORITY.items():
        for position, (low, high, modifier) in enumerate(DEFAULT_BRACKETS):
            rules.append(
                make_rule(
                    base + position,
                    modifier,
                    stone_type=stone_type,
                    price_min=low,
                    price_max=high,
                    created_at=EPOCH + timedelta(seconds=position),
                )
            )
    return rules

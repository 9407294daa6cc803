"""Pricing rules and quotes: the operations behind the routes.

Every write runs on a connection inside a transaction the caller owns, so a caller can
do more in the same transaction (e.g. create a reapply job) and have it all commit or
roll back together:

    async with transaction(pool) as conn:
        rule = await service.create_rule(conn, data=body, base_margins=margins)
        ...  # anything else that must succeed or fail with the rule change
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

from diamond_pricing.db import DictConn
from diamond_pricing.errors import field_error, not_found, validation_error
from diamond_pricing.pricing import queries
from diamond_pricing.pricing.engine import (
    BaseMargins,
    StoneType,
    markup_ratio_for,
    modifier_keeps_ratio_valid,
    ratio_is_representable,
    stone_types_matched_by,
)
from diamond_pricing.pricing.models import Quote, QuoteRequest, Rule, RuleCreate, RuleUpdate
from diamond_pricing.pricing.rules import load_engine
from diamond_pricing.settings import Settings

RULE_FIELDS = (
    "priority",
    "stone_type",
    "price_min",
    "price_max",
    "feed",
    "margin_modifier",
    "rating",
    "active",
)


async def list_rules(conn: DictConn, *, include_inactive: bool = False) -> list[Rule]:
    """Rules in precedence order; only active ones unless ``include_inactive``."""
    rows = await (
        queries.list_all_rules(conn) if include_inactive else queries.list_active_rules(conn)
    )
    return [Rule.from_row(row) for row in rows]


def body_error(field: str, message: str, *, kind: str = "invalid") -> dict[str, Any]:
    """A 422 entry for a field of the request body."""
    return {**field_error(field, message, kind=kind), "location": "body"}


def rule_state_errors(
    state: Mapping[str, Any], provided: Collection[str], base_margins: BaseMargins
) -> list[dict[str, Any]]:
    """Cross-field problems of a rule's complete state; blame the fields the request set."""
    errors = []
    price_min: Decimal | None = state["price_min"]
    price_max: Decimal | None = state["price_max"]
    if price_min is not None and price_max is not None and price_min > price_max:
        if "price_min" in provided and "price_max" not in provided:
            errors.append(
                body_error("price_min", f"must be less than or equal to price_max ({price_max})")
            )
        else:
            errors.append(
                body_error("price_max", f"must be greater than or equal to price_min ({price_min})")
            )
    modifier: Decimal = state["margin_modifier"]
    stone_type: StoneType | None = state["stone_type"]
    if not modifier_keeps_ratio_valid(modifier, stone_type, base_margins):
        failing = [
            kind.value
            for kind in stone_types_matched_by(stone_type)
            if not ratio_is_representable(markup_ratio_for(base_margins.for_type(kind) + modifier))
        ]
        blamed = (
            "stone_type"
            if "stone_type" in provided and "margin_modifier" not in provided
            else "margin_modifier"
        )
        errors.append(
            body_error(
                blamed,
                f"margin_modifier {modifier} puts the markup ratio outside (0, 10)"
                f" for stone type {', '.join(failing)}",
                kind="markup_ratio_out_of_range",
            )
        )
    return errors


def _stored(state: Mapping[str, Any]) -> dict[str, Any]:
    """Query arguments for a rule's state (stone type as its text value)."""
    values = {name: state[name] for name in RULE_FIELDS}
    values["stone_type"] = StoneType(values["stone_type"]).value if values["stone_type"] else None
    return values


async def create_rule(conn: DictConn, *, data: RuleCreate, base_margins: BaseMargins) -> Rule:
    """Validate and store a new rule (422 on a bad combination of fields)."""
    state = {name: getattr(data, name) for name in RULE_FIELDS}
    errors = rule_state_errors(state, RULE_FIELDS, base_margins)
    if errors:
        raise validation_error(errors)
    row = await queries.insert_rule(conn, **_stored(state))
    return Rule.from_row(row)


async def update_rule(
    conn: DictConn, *, rule_id: UUID, data: RuleUpdate, base_margins: BaseMargins
) -> Rule:
    """Apply a partial update, validated on the merged state (404 unknown, 422 invalid).

    An update with no fields changes nothing and returns the rule as it is.
    """
    row = await queries.get_rule_for_update(conn, rule_id=rule_id)
    if row is None:
        raise not_found("pricing rule", rule_id)
    changes = data.changes()
    if not changes:
        return Rule.from_row(row)
    current = {name: row[name] for name in RULE_FIELDS}
    current["stone_type"] = StoneType(row["stone_type"]) if row["stone_type"] else None
    state = {**current, **changes}
    errors = rule_state_errors(state, changes.keys(), base_margins)
    if errors:
        raise validation_error(errors)
    updated = await queries.update_rule(conn, rule_id=rule_id, **_stored(state))
    return Rule.from_row(updated)


async def delete_rule(conn: DictConn, *, rule_id: UUID) -> Rule:
    """Soft-delete a rule (active = false, updated_at bumped); already inactive: unchanged."""
    row = await queries.get_rule_for_update(conn, rule_id=rule_id)
    if row is None:
        raise not_found("pricing rule", rule_id)
    if not row["active"]:
        return Rule.from_row(row)
    deactivated = await queries.deactivate_rule(conn, rule_id=rule_id)
    assert deactivated is not None  # the row is locked and was active
    return Rule.from_row(deactivated)


async def quote(conn: DictConn, *, request: QuoteRequest, settings: Settings) -> Quote:
    """Price the given attributes with the current active rules, with the explanation."""
    engine = await load_engine(conn, settings)
    result = engine.price(
        feed=request.feed,
        feed_price=request.feed_price,
        carats=request.carats,
        lab_grown=request.lab_grown,
        fancy_color=request.fancy_color,
    )
    return Quote.from_result(result)

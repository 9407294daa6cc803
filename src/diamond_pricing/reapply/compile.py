"""Compiling a frozen rule set into one SQL expression that prices exactly like the engine.

A job freezes the active rules and base margins (``RuleSet``). ``compile_rules`` turns them into:

- ``slot``: an integer CASE over the stone's ``stone_type``, ``feed`` and ``feed_price``. For each
  stone type it tests, in precedence order, only the rules that can match that type (first match
  wins, bounds inclusive, exactly ``Rule.matches``); the ELSE branch is the "no rule" slot of the
  type. Every (rule, stone type) pair gets its own slot number.
- three constant arrays indexed by slot: the markup ratio (computed here in Python by the engine's
  own ``markup_ratio_for``, so SQL never re-derives it), the rating and the winning rule id.

SQL then computes ``round(feed_price * ratio, 2)``: PostgreSQL multiplies numerics exactly and
rounds half away from zero, exactly like ``engine.round_cents``. A slot whose ratio cannot be
stored (outside (0, 10)) has a NULL ratio, and a price that would overflow numeric(12,2) is
refused too: such diamonds are left unchanged and counted as failed. Every literal is rendered by
psycopg (``sql.Literal``), numerics as quoted strings cast to numeric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import sql

from diamond_pricing.pricing.engine import (
    BaseMargins,
    PricingEngine,
    Rule,
    StoneType,
    markup_ratio_for,
    ratio_is_representable,
)

# The largest feed_price * ratio that still rounds to a numeric(12,2) value.
PRICE_LIMIT = Decimal("9999999999.995")


@dataclass(frozen=True)
class RuleSet:
    """The rules (precedence order) and base margins a job applies, frozen at creation."""

    rules: tuple[Rule, ...]
    base_margins: BaseMargins

    @classmethod
    def of(cls, rules: Sequence[Rule], base_margins: BaseMargins) -> RuleSet:
        """A rule set in the engine's precedence order."""
        engine = PricingEngine.build(rules, base_margins)
        return cls(rules=engine.rules, base_margins=engine.base_margins)

    def engine(self) -> PricingEngine:
        """The pricing engine for this rule set."""
        return PricingEngine.build(self.rules, self.base_margins)

    def to_json(self) -> dict[str, Any]:
        """The job's ``rules_snapshot``."""
        return {
            "rules": [rule.to_json() for rule in self.rules],
            "base_margins": self.base_margins.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RuleSet:
        """Rebuild from a job's ``rules_snapshot``."""
        return cls.of(
            [Rule.from_json(rule) for rule in data["rules"]],
            BaseMargins.from_json(data["base_margins"]),
        )


@dataclass(frozen=True)
class Slot:
    """One outcome of the match: a rule (or none) applied to one stone type."""

    stone_type: StoneType
    rule: Rule | None
    ratio: Decimal | None

    @property
    def rating(self) -> int | None:
        """The rating a stone gets in this slot."""
        return self.rule.rating if self.rule else None

    @property
    def rule_id(self) -> UUID | None:
        """The winning rule's id, if any."""
        return self.rule.id if self.rule else None


@dataclass(frozen=True)
class CompiledRules:
    """SQL fragments pricing a row aliased ``d`` (columns stone_type, feed, feed_price)."""

    slot: sql.Composable
    ratios: sql.Composable
    ratings: sql.Composable
    rule_ids: sql.Composable
    slots: tuple[Slot, ...]

    @property
    def may_price_below_cost(self) -> bool:
        """True when some slot's ratio is below 1 (only then can a price fall below cost)."""
        return any(slot.ratio is not None and slot.ratio < 1 for slot in self.slots)


def numeric(value: Decimal) -> sql.Composed:
    """A numeric literal: ``'12.50'::numeric``."""
    return sql.SQL("{}::numeric").format(sql.Literal(format(value, "f")))


def _array(values: Sequence[sql.Composable], type_name: str) -> sql.Composed:
    return sql.SQL("(ARRAY[{}]::{}[])").format(sql.SQL(", ").join(values), sql.SQL(type_name))


def _conditions(rule: Rule, alias: str) -> sql.Composable:
    column = sql.Identifier
    parts: list[sql.Composable] = []
    if rule.feed is not None:
        parts.append(
            sql.SQL("{}.{} = {}").format(column(alias), column("feed"), sql.Literal(rule.feed))
        )
    if rule.price_min is not None:
        parts.append(
            sql.SQL("{}.{} >= {}").format(
                column(alias), column("feed_price"), numeric(rule.price_min)
            )
        )
    if rule.price_max is not None:
        parts.append(
            sql.SQL("{}.{} <= {}").format(
                column(alias), column("feed_price"), numeric(rule.price_max)
            )
        )
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def _ratio(base_margins: BaseMargins, stone_type: StoneType, rule: Rule | None) -> Decimal | None:
    modifier = rule.margin_modifier if rule else Decimal("0")
    ratio = markup_ratio_for(base_margins.for_type(stone_type) + modifier)
    return ratio if ratio_is_representable(ratio) else None


def compile_rules(rule_set: RuleSet, alias: str = "d") -> CompiledRules:
    """Compile a rule set into the slot CASE and its lookup arrays."""
    slots: list[Slot] = []
    branches: list[sql.Composable] = []
    for stone_type in StoneType:
        whens: list[sql.Composable] = []
        for rule in rule_set.rules:
            if rule.stone_type is not None and rule.stone_type != stone_type:
                continue
            slots.append(Slot(stone_type, rule, _ratio(rule_set.base_margins, stone_type, rule)))
            whens.append(
                sql.SQL("WHEN {} THEN {}").format(_conditions(rule, alias), sql.Literal(len(slots)))
            )
        slots.append(Slot(stone_type, None, _ratio(rule_set.base_margins, stone_type, None)))
        default = sql.Literal(len(slots))
        inner = (
            sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(whens), default)
            if whens
            else default
        )
        branches.append(sql.SQL("WHEN {} THEN {}").format(sql.Literal(stone_type.value), inner))
    slot_expr = sql.SQL("(CASE {}.{} {} END)").format(
        sql.Identifier(alias), sql.Identifier("stone_type"), sql.SQL(" ").join(branches)
    )
    return CompiledRules(
        slot=slot_expr,
        ratios=_array(
            [numeric(s.ratio) if s.ratio is not None else sql.NULL for s in slots], "numeric"
        ),
        ratings=_array([sql.Literal(s.rating) for s in slots], "integer"),
        rule_ids=_array(
            [sql.Literal(str(s.rule_id)) if s.rule_id else sql.NULL for s in slots], "uuid"
        ),
        slots=tuple(slots),
    )

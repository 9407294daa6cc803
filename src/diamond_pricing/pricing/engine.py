"""The pricing engine: pure functions from pricing rules and a stone to a price (SPEC §2).

No I/O happens here. Money is ``Decimal`` throughout; rounding is half away from
zero, the same as PostgreSQL's ``round(numeric, 2)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

CENT = Decimal("0.01")
RATIO_QUANTUM = Decimal("0.0001")
RATIO_UPPER_BOUND = Decimal("10")  # numeric(5,4) holds values below 10


class StoneType(StrEnum):
    """The three kinds of stone the rules distinguish."""

    NATURAL = "natural"
    LAB = "lab"
    FANCY = "fancy"


def stone_type_of(*, lab_grown: bool, fancy_color: str | None) -> StoneType:
    """Classify a stone: fancy when it has a fancy colour, else lab when lab-grown, else natural."""
    # "Non-empty" ignores surrounding spaces only, exactly like the generated column
    # diamonds.stone_type (PostgreSQL's btrim(text) strips spaces, not tabs or newlines).
    if fancy_color is not None and fancy_color.strip(" "):
        return StoneType.FANCY
    return StoneType.LAB if lab_grown else StoneType.NATURAL


@dataclass(frozen=True)
class BaseMargins:
    """Base margin in percent per stone type, before any rule's modifier."""

    natural: Decimal = Decimal("40")
    lab: Decimal = Decimal("79")
    fancy: Decimal = Decimal("40")

    def for_type(self, stone_type: StoneType) -> Decimal:
        """Return the base margin of one stone type."""
        return {
            StoneType.NATURAL: self.natural,
            StoneType.LAB: self.lab,
            StoneType.FANCY: self.fancy,
        }[stone_type]

    def to_json(self) -> dict[str, str]:
        """Serialize as decimal strings (for a job's frozen rule set)."""
        return {"natural": str(self.natural), "lab": str(self.lab), "fancy": str(self.fancy)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaseMargins:
        """Rebuild from ``to_json`` output."""
        return cls(
            natural=Decimal(str(data["natural"])),
            lab=Decimal(str(data["lab"])),
            fancy=Decimal(str(data["fancy"])),
        )


@dataclass(frozen=True)
class Rule:
    """One active pricing rule, in the shape the engine needs."""

    id: UUID
    priority: int
    margin_modifier: Decimal
    created_at: datetime
    stone_type: StoneType | None = None
    feed: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    rating: int | None = None

    def matches(self, *, stone_type: StoneType, feed: str, feed_price: Decimal) -> bool:
        """True when every non-null criterion of the rule holds for the stone."""
        if self.stone_type is not None and self.stone_type != stone_type:
            return False
        if self.feed is not None and self.feed != feed:
            return False
        if self.price_min is not None and feed_price < self.price_min:
            return False
        return not (self.price_max is not None and feed_price > self.price_max)

    @property
    def precedence(self) -> tuple[int, datetime, UUID]:
        """Sort key: lower priority number first, then older, then by id."""
        return (self.priority, self.created_at, self.id)

    def to_json(self) -> dict[str, Any]:
        """Serialize with decimals as strings (for a job's frozen rule set)."""
        return {
            "id": str(self.id),
            "priority": self.priority,
            "stone_type": self.stone_type.value if self.stone_type else None,
            "feed": self.feed,
            "price_min": None if self.price_min is None else str(self.price_min),
            "price_max": None if self.price_max is None else str(self.price_max),
            "margin_modifier": str(self.margin_modifier),
            "rating": self.rating,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rule:
        """Rebuild from ``to_json`` output."""

        def dec(value: Any) -> Decimal | None:
            return None if value is None else Decimal(str(value))

        return cls(
            id=UUID(str(data["id"])),
            priority=int(data["priority"]),
            stone_type=StoneType(data["stone_type"]) if data.get("stone_type") else None,
            feed=data.get("feed"),
            price_min=dec(data.get("price_min")),
            price_max=dec(data.get("price_max")),
            margin_modifier=Decimal(str(data["margin_modifier"])),
            rating=data.get("rating"),
            created_at=datetime.fromisoformat(str(data["created_at"])),
        )


@dataclass(frozen=True)
class PriceResult:
    """A price and how it was reached: the engine's explanation of one stone."""

    stone_type: StoneType
    base_margin: Decimal
    matched_rule_id: UUID | None
    margin_modifier: Decimal
    effective_margin: Decimal
    markup_ratio: Decimal
    price_model_price: Decimal
    price_per_carat: Decimal
    rating: int | None


def round_cents(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (PostgreSQL ``round(numeric, 2)``)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def markup_ratio_for(effective_margin: Decimal) -> Decimal:
    """Markup ratio for an effective margin in percent: ``1 + margin / 100``, 4 places."""
    return (Decimal(1) + effective_margin / Decimal(100)).quantize(
        RATIO_QUANTUM, rounding=ROUND_HALF_UP
    )


def price_per_carat_for(feed_price: Decimal, carats: Decimal | None) -> Decimal:
    """Supplier cost per carat in cents; 0 when carats is missing or zero."""
    if carats is None or carats == 0:
        return Decimal("0.00")
    return round_cents(feed_price / carats)


def ratio_is_representable(ratio: Decimal) -> bool:
    """True when a markup ratio fits the schema: strictly between 0 and 10."""
    return Decimal(0) < ratio < RATIO_UPPER_BOUND


@dataclass(frozen=True)
class PricingEngine:
    """A frozen rule set plus base margins; prices stones deterministically."""

    rules: tuple[Rule, ...]
    base_margins: BaseMargins = field(default_factory=BaseMargins)

    @classmethod
    def build(cls, rules: Iterable[Rule], base_margins: BaseMargins | None = None) -> PricingEngine:
        """Create an engine from active rules in any order; precedence order is applied here."""
        ordered = tuple(sorted(rules, key=lambda rule: rule.precedence))
        return cls(rules=ordered, base_margins=base_margins or BaseMargins())

    def matching_rule(
        self, *, stone_type: StoneType, feed: str, feed_price: Decimal
    ) -> Rule | None:
        """The first rule in precedence order whose criteria all hold, if any."""
        for rule in self.rules:
            if rule.matches(stone_type=stone_type, feed=feed, feed_price=feed_price):
                return rule
        return None

    def price(
        self,
        *,
        feed: str,
        feed_price: Decimal,
        carats: Decimal | None,
        lab_grown: bool,
        fancy_color: str | None,
    ) -> PriceResult:
        """Price one stone and explain the result."""
        stone_type = stone_type_of(lab_grown=lab_grown, fancy_color=fancy_color)
        base = self.base_margins.for_type(stone_type)
        rule = self.matching_rule(stone_type=stone_type, feed=feed, feed_price=feed_price)
        modifier = rule.margin_modifier if rule else Decimal("0")
        effective = base + modifier
        ratio = markup_ratio_for(effective)
        return PriceResult(
            stone_type=stone_type,
            base_margin=base,
            matched_rule_id=rule.id if rule else None,
            margin_modifier=modifier,
            effective_margin=effective,
            markup_ratio=ratio,
            price_model_price=round_cents(feed_price * ratio),
            price_per_carat=price_per_carat_for(feed_price, carats),
            rating=rule.rating if rule else None,
        )


def stone_types_matched_by(stone_type: StoneType | None) -> tuple[StoneType, ...]:
    """The stone types a rule with this criterion can match."""
    return (stone_type,) if stone_type is not None else tuple(StoneType)


def modifier_keeps_ratio_valid(
    margin_modifier: Decimal, stone_type: StoneType | None, base_margins: BaseMargins
) -> bool:
    """True when the markup ratio stays in (0, 10) for every stone type the rule can match."""
    return all(
        ratio_is_representable(markup_ratio_for(base_margins.for_type(kind) + margin_modifier))
        for kind in stone_types_matched_by(stone_type)
    )

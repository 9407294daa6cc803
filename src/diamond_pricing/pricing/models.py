"""API shapes of the pricing domain: rules in and out, quotes in and out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from diamond_pricing.pricing import fields
from diamond_pricing.pricing.engine import PriceResult, StoneType
from diamond_pricing.schemas import DecimalStr, Money, StrictInput

DOC = {
    "priority": "Lower number = higher precedence; ties go to the older rule, then the lower id.",
    "stone_type": "Match only this stone type; null matches every type.",
    "price_min": "Inclusive lower bound on feed_price (numeric(12,2), ≥ 0); null: no bound.",
    "price_max": "Inclusive upper bound on feed_price (numeric(12,2), ≥ price_min); null: no bound.",
    "feed": "Match only this feed; null matches every feed.",
    "margin_modifier": (
        "Percentage points added to the base margin (numeric(5,2)); the resulting markup ratio"
        " must stay in (0, 10) for every stone type the rule can match."
    ),
    "rating": "Rating 1–10 given to the stones this rule prices; null: no rating.",
    "active": "Inactive rules are kept but never match (DELETE sets this to false).",
    "recalculate_pricing": (
        "Start a reapply job with the new rules in the same transaction: 409 (rule unchanged)"
        " when a job is already active."
    ),
    "allow_below_cost": (
        "With recalculate_pricing: start the job even if the new rules price some diamonds"
        " below cost (otherwise 422, rule unchanged)."
    ),
}


class RuleFieldParsing(StrictInput):
    """Field parsing shared by create and update: exact messages, one error per field."""

    @field_validator("priority", mode="before", check_fields=False)
    @classmethod
    def _priority(cls, value: Any) -> int:
        return fields.parse_priority(value)

    @field_validator("stone_type", mode="before", check_fields=False)
    @classmethod
    def _stone_type(cls, value: Any) -> StoneType | None:
        return fields.parse_stone_type(value)

    @field_validator("price_min", "price_max", mode="before", check_fields=False)
    @classmethod
    def _money(cls, value: Any) -> Decimal | None:
        return fields.parse_money(value)

    @field_validator("feed", mode="before", check_fields=False)
    @classmethod
    def _feed(cls, value: Any) -> str | None:
        return fields.parse_feed(value)

    @field_validator("margin_modifier", mode="before", check_fields=False)
    @classmethod
    def _modifier(cls, value: Any) -> Decimal:
        return fields.parse_modifier(value)

    @field_validator("rating", mode="before", check_fields=False)
    @classmethod
    def _rating(cls, value: Any) -> int | None:
        return fields.parse_rating(value)

    @field_validator(
        "active", "recalculate_pricing", "allow_below_cost", mode="before", check_fields=False
    )
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return fields.parse_bool(value)


class RuleCreate(RuleFieldParsing):
    """A new pricing rule; omitted criteria are null (match anything)."""

    priority: int = Field(description=DOC["priority"], examples=[15])
    stone_type: StoneType | None = Field(default=None, description=DOC["stone_type"])
    price_min: Decimal | None = Field(default=None, description=DOC["price_min"])
    price_max: Decimal | None = Field(default=None, description=DOC["price_max"])
    feed: str | None = Field(default=None, description=DOC["feed"])
    margin_modifier: Decimal = Field(
        default=Decimal("0.00"), description=DOC["margin_modifier"], examples=["-4.00"]
    )
    rating: int | None = Field(default=None, description=DOC["rating"])
    active: bool = Field(default=True, description=DOC["active"])
    recalculate_pricing: bool = Field(default=False, description=DOC["recalculate_pricing"])
    allow_below_cost: bool = Field(default=False, description=DOC["allow_below_cost"])


class RuleUpdate(RuleFieldParsing):
    """A partial update: only the fields present change; null clears a nullable criterion."""

    priority: int | SkipJsonSchema[None] = Field(default=None, description=DOC["priority"])
    stone_type: StoneType | None = Field(default=None, description=DOC["stone_type"])
    price_min: Decimal | None = Field(default=None, description=DOC["price_min"])
    price_max: Decimal | None = Field(default=None, description=DOC["price_max"])
    feed: str | None = Field(default=None, description=DOC["feed"])
    margin_modifier: Decimal | SkipJsonSchema[None] = Field(
        default=None, description=DOC["margin_modifier"]
    )
    rating: int | None = Field(default=None, description=DOC["rating"])
    active: bool | SkipJsonSchema[None] = Field(default=None, description=DOC["active"])
    recalculate_pricing: bool = Field(default=False, description=DOC["recalculate_pricing"])
    allow_below_cost: bool = Field(default=False, description=DOC["allow_below_cost"])

    def changes(self) -> dict[str, Any]:
        """The rule fields present in the request (the reapply options are not rule fields)."""
        return {
            name: getattr(self, name)
            for name in self.model_fields_set - {"recalculate_pricing", "allow_below_cost"}
        }


class RuleDeleteOptions(RuleFieldParsing):
    """Options of a rule deletion (also accepted as query parameters)."""

    recalculate_pricing: bool = Field(default=False, description=DOC["recalculate_pricing"])
    allow_below_cost: bool = Field(default=False, description=DOC["allow_below_cost"])


class Rule(BaseModel):
    """A stored pricing rule."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    priority: int
    stone_type: StoneType | None
    price_min: Money | None
    price_max: Money | None
    feed: str | None
    margin_modifier: DecimalStr
    rating: int | None
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rule:
        """Build from a ``pricing_rules`` row."""
        return cls.model_validate(row)


class RuleChange(Rule):
    """A rule after create / update / delete, with the reapply job it started (if any)."""

    reapply_job_id: UUID | None = Field(
        default=None, description="The reapply job started by this change; null when none."
    )


class RuleList(BaseModel):
    """Rules in precedence order (priority, created_at, id)."""

    rules: list[Rule]
    total: int


Availability = Literal["available", "on_hold", "sold", "unavailable"]


class QuoteRequest(StrictInput):
    """A diamond's attributes and its feed: what the engine needs to price it."""

    feed: str = Field(min_length=1, max_length=fields.FEED_MAX_LENGTH, examples=["acme"])
    supplier_stone_id: str | None = None
    shape: str | None = None
    carats: Decimal | None = Field(
        default=None, ge=0, max_digits=6, decimal_places=2, allow_inf_nan=False, examples=["1.01"]
    )
    color: str | None = None
    clarity: str | None = None
    cut: str | None = None
    polish: str | None = None
    symmetry: str | None = None
    fluorescence: str | None = None
    lab_grown: bool = False
    fancy_color: str | None = None
    fancy_intensity: str | None = None
    certificate_lab: str | None = None
    certificate_number: str | None = None
    image_url: str | None = None
    feed_price: Money = Field(examples=["1450.00"])
    availability: Availability | None = None


class Quote(BaseModel):
    """A price and how the engine reached it."""

    stone_type: StoneType
    base_margin: DecimalStr
    matched_rule_id: UUID | None
    margin_modifier: DecimalStr
    effective_margin: DecimalStr
    markup_ratio: DecimalStr
    price_model_price: DecimalStr
    price_per_carat: DecimalStr
    rating: int | None

    @classmethod
    def from_result(cls, result: PriceResult) -> Quote:
        """Build from the engine's result; margins shown with at least two places."""
        return cls(
            stone_type=result.stone_type,
            base_margin=at_least_cents(result.base_margin),
            matched_rule_id=result.matched_rule_id,
            margin_modifier=at_least_cents(result.margin_modifier),
            effective_margin=at_least_cents(result.effective_margin),
            markup_ratio=result.markup_ratio,
            price_model_price=result.price_model_price,
            price_per_carat=result.price_per_carat,
            rating=result.rating,
        )


def at_least_cents(value: Decimal) -> Decimal:
    """``40`` → ``40.00``; values with more places are kept exact."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return value.quantize(Decimal("0.01"))
    return value

"""Catalog API types: the diamond upsert input, the diamond output and the list bodies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator

from diamond_pricing.schemas import DecimalStr, Money, StrictInput

Availability = Literal["available", "on_hold", "sold", "unavailable"]
StoneTypeName = Literal["natural", "lab", "fancy"]
SortName = Literal["price_model_price", "carats", "created_at", "rating"]
OrderName = Literal["asc", "desc"]

MAX_INGEST_ROWS = 5000
FEED_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
FeedName = Annotated[str, StringConstraints(pattern=FEED_PATTERN)]
Attribute = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Carats = Annotated[Decimal, Field(ge=0, max_digits=6, decimal_places=2, allow_inf_nan=False)]

# The engine's outputs (and server-assigned fields): a feed may never send them.
PRICING_OUTPUTS = frozenset({"price_model_price", "markup_ratio", "rating", "price_per_carat"})
SERVER_FIELDS = frozenset({"id", "feed", "stone_type", "created_at", "updated_at"})


class DiamondInput(StrictInput):
    """One diamond as a feed sends it: attributes, cost and availability, never prices."""

    supplier_stone_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    shape: Attribute | None = None
    carats: Carats | None = None
    color: Attribute | None = None
    clarity: Attribute | None = None
    cut: Attribute | None = None
    polish: Attribute | None = None
    symmetry: Attribute | None = None
    fluorescence: Attribute | None = None
    lab_grown: bool = Field(description="Required: decides the stone type and so the margin.")
    fancy_color: Attribute | None = None
    fancy_intensity: Attribute | None = None
    certificate_lab: Attribute | None = None
    certificate_number: Attribute | None = None
    image_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = (
        None
    )
    feed_price: Money = Field(description="Supplier cost in USD (pricing input).")
    availability: Availability = "available"

    @field_validator(
        "shape",
        "color",
        "clarity",
        "cut",
        "polish",
        "symmetry",
        "fluorescence",
        "fancy_color",
        "fancy_intensity",
        "certificate_lab",
        "certificate_number",
        "image_url",
    )
    @classmethod
    def _empty_is_missing(cls, value: str | None) -> str | None:
        return value or None


class Diamond(BaseModel):
    """A diamond as the catalog serves it: the feed's fields plus the engine's outputs."""

    id: UUID
    feed: str
    supplier_stone_id: str
    shape: str | None
    carats: DecimalStr | None
    color: str | None
    clarity: str | None
    cut: str | None
    polish: str | None
    symmetry: str | None
    fluorescence: str | None
    lab_grown: bool
    fancy_color: str | None
    fancy_intensity: str | None
    certificate_lab: str | None
    certificate_number: str | None
    image_url: str | None
    feed_price: DecimalStr
    availability: Availability
    stone_type: StoneTypeName
    price_model_price: DecimalStr
    markup_ratio: DecimalStr | None
    rating: int | None
    price_per_carat: DecimalStr | None
    created_at: datetime
    updated_at: datetime


class DiamondPage(BaseModel):
    """One page of search results; ``next_cursor`` is null on the last page."""

    diamonds: list[Diamond]
    next_cursor: str | None


class IngestRequest(StrictInput):
    """Body of a feed upsert (documentation model; rows are validated one by one)."""

    diamonds: list[DiamondInput] = Field(max_length=MAX_INGEST_ROWS)


class IngestResult(BaseModel):
    """What a feed upsert did."""

    feed: str
    received: int
    inserted: int
    updated: int
    unchanged: int
    version: int = Field(description="The feed's dataset version after the call.")


class DatasetVersion(BaseModel):
    """One feed's dataset version."""

    feed: str
    version: int
    updated_at: datetime


class DatasetVersions(BaseModel):
    """Every feed's dataset version, by feed name."""

    versions: list[DatasetVersion]


class SearchParams(BaseModel):
    """Query parameters of ``GET /diamonds``; unknown parameters are rejected."""

    model_config = {"extra": "forbid"}

    feed: list[Attribute] = Field(default=[], description="Repeatable.")
    shape: list[Attribute] = Field(default=[], description="Repeatable; exact match.")
    stone_type: list[StoneTypeName] = Field(default=[], description="Repeatable.")
    lab_grown: list[bool] = Field(default=[], description="Repeatable.")
    color: list[Attribute] = Field(default=[], description="Repeatable; exact match.")
    clarity: list[Attribute] = Field(default=[], description="Repeatable; exact match.")
    cut: list[Attribute] = Field(default=[], description="Repeatable; exact match.")
    carats_min: Decimal | None = Field(default=None, ge=0, le=9999, allow_inf_nan=False)
    carats_max: Decimal | None = Field(default=None, ge=0, le=9999, allow_inf_nan=False)
    price_min: Decimal | None = Field(
        default=None, ge=0, le=10**10, allow_inf_nan=False, description="On price_model_price."
    )
    price_max: Decimal | None = Field(
        default=None, ge=0, le=10**10, allow_inf_nan=False, description="On price_model_price."
    )
    rating_min: int | None = Field(default=None, ge=1, le=10)
    availability: list[Availability] = Field(
        default=["available"], description="Repeatable; default available."
    )
    sort: SortName = "created_at"
    order: OrderName | None = Field(
        default=None,
        description="Default: desc for created_at and rating, asc for price and carats. "
        "Null carats and ratings always come last.",
    )
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(
        default=None, max_length=500, description="Opaque: next_cursor of the previous page."
    )


@dataclass(frozen=True)
class SearchFilters:
    """Normalized search filters: sorted, de-duplicated values; empty means no filter."""

    feeds: tuple[str, ...] = ()
    shapes: tuple[str, ...] = ()
    stone_types: tuple[str, ...] = ()
    lab_grown: tuple[bool, ...] = ()
    colors: tuple[str, ...] = ()
    clarities: tuple[str, ...] = ()
    cuts: tuple[str, ...] = ()
    availability: tuple[str, ...] = ("available",)
    carats_min: Decimal | None = None
    carats_max: Decimal | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    rating_min: int | None = None

    def canonical(self) -> dict[str, Any]:
        """A JSON-able form in which equal filters are equal."""

        def number(value: Decimal | None) -> str | None:
            return None if value is None else format(value.normalize(), "f")

        return {
            "feed": list(self.feeds),
            "shape": list(self.shapes),
            "stone_type": list(self.stone_types),
            "lab_grown": list(self.lab_grown),
            "color": list(self.colors),
            "clarity": list(self.clarities),
            "cut": list(self.cuts),
            "availability": list(self.availability),
            "carats_min": number(self.carats_min),
            "carats_max": number(self.carats_max),
            "price_min": number(self.price_min),
            "price_max": number(self.price_max),
            "rating_min": self.rating_min,
        }

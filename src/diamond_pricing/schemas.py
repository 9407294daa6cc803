"""Shared API types: the success envelope and decimal fields that serialize as strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

T = TypeVar("T")

# Decimals go out as strings ("1450.00") and come in as JSON numbers or decimal strings.
DecimalStr = Annotated[
    Decimal, PlainSerializer(lambda value: str(value), return_type=str, when_used="json")
]
Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2, ge=0, allow_inf_nan=False),
    PlainSerializer(lambda value: str(value), return_type=str, when_used="json"),
]


class Envelope(BaseModel, Generic[T]):
    """Every success body: ``{"data": ...}``."""

    data: T


class StrictInput(BaseModel):
    """Base for request bodies: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")

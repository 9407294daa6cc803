"""Shared API types: the success envelope and decimal fields that serialize as strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from pydantic_core import PydanticCustomError

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


def reject_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: a string (or list of strings) with one is a 422."""
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, str) and "\x00" in item for item in items):
        raise PydanticCustomError("string_nul", "must not contain NUL (\\u0000) characters")
    return value


class StrictInput(BaseModel):
    """Base for request bodies: unknown fields are rejected, and so is NUL in any string."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return reject_nul(value)

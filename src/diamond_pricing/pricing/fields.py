"""Parsing of rule fields from JSON with exact, stable error messages (one per bad field).

Each parser takes the raw JSON value and returns the normalized value or raises a
``PydanticCustomError`` whose message is what the client sees in the 422 entry for
that field. Decimals come in as JSON numbers or decimal strings, never bools.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic_core import PydanticCustomError

from diamond_pricing.pricing.engine import CENT, StoneType

INT4_MIN = -(2**31)
INT4_MAX = 2**31 - 1
MONEY_MAX = Decimal("9999999999.99")  # numeric(12,2)
MODIFIER_LIMIT = Decimal("1000")  # numeric(5,2): |x| < 1000
FEED_MAX_LENGTH = 200

MSG_NOT_NULL = "must not be null"
MSG_INTEGER = "must be an integer"
MSG_PRIORITY_RANGE = f"must be between {INT4_MIN} and {INT4_MAX}"
MSG_STONE_TYPE = "must be one of: natural, lab, fancy"
MSG_DECIMAL = "must be a decimal number (a JSON number or a numeric string)"
MSG_NOT_NEGATIVE = "must be greater than or equal to 0"
MSG_MONEY_MAX = f"must be at most {MONEY_MAX}"
MSG_TWO_PLACES = "must have at most 2 decimal places"
MSG_MODIFIER_RANGE = "must be greater than -1000 and less than 1000"
MSG_RATING = "must be an integer from 1 to 10"
MSG_FEED = "must be a non-empty string"
MSG_FEED_LENGTH = f"must be at most {FEED_MAX_LENGTH} characters"
MSG_BOOL = "must be true or false"


def bad(kind: str, message: str) -> PydanticCustomError:
    """A field error with our message (braces are not used, so it is never formatted)."""
    return PydanticCustomError(kind, message)


def parse_priority(value: Any) -> int:
    """An integer that fits PostgreSQL's INTEGER; bools, floats and strings are rejected."""
    if value is None:
        raise bad("null_not_allowed", MSG_NOT_NULL)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad("int_type", MSG_INTEGER)
    if not INT4_MIN <= value <= INT4_MAX:
        raise bad("out_of_range", MSG_PRIORITY_RANGE)
    return value


def parse_stone_type(value: Any) -> StoneType | None:
    """One of the stone types, or None (the rule matches every type)."""
    if value is None:
        return None
    if isinstance(value, str) and value in StoneType._value2member_map_:
        return StoneType(value)
    raise bad("enum", MSG_STONE_TYPE)


def parse_decimal(value: Any) -> Decimal:
    """A finite decimal from a JSON number or a numeric string."""
    if isinstance(value, bool):
        raise bad("decimal_type", MSG_DECIMAL)
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise bad("decimal_type", MSG_DECIMAL) from None
    else:
        raise bad("decimal_type", MSG_DECIMAL)
    if not number.is_finite():
        raise bad("decimal_type", MSG_DECIMAL)
    return number


def to_cents(number: Decimal) -> Decimal:
    """The value with exactly two places; rejects values that would need rounding."""
    quantized = number.quantize(CENT)
    if quantized != number:
        raise bad("decimal_places", MSG_TWO_PLACES)
    return quantized


def parse_money(value: Any) -> Decimal | None:
    """A numeric(12,2) amount ≥ 0, or None (no bound)."""
    if value is None:
        return None
    number = parse_decimal(value)
    if number < 0:
        raise bad("out_of_range", MSG_NOT_NEGATIVE)
    if number > MONEY_MAX:
        raise bad("out_of_range", MSG_MONEY_MAX)
    return to_cents(number)


def parse_modifier(value: Any) -> Decimal:
    """A numeric(5,2) number of percentage points: |x| < 1000, at most 2 places."""
    if value is None:
        raise bad("null_not_allowed", MSG_NOT_NULL)
    number = parse_decimal(value)
    if not -MODIFIER_LIMIT < number < MODIFIER_LIMIT:
        raise bad("out_of_range", MSG_MODIFIER_RANGE)
    return to_cents(number)


def parse_rating(value: Any) -> int | None:
    """An integer 1–10, or None (no rating)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise bad("out_of_range", MSG_RATING)
    return value


def parse_feed(value: Any) -> str | None:
    """A feed name (surrounding whitespace removed), or None (any feed)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise bad("string_type", MSG_FEED)
    if len(value.strip()) > FEED_MAX_LENGTH:
        raise bad("string_too_long", MSG_FEED_LENGTH)
    return value.strip()


def parse_bool(value: Any) -> bool:
    """A JSON boolean; strings and numbers are rejected."""
    if value is None:
        raise bad("null_not_allowed", MSG_NOT_NULL)
    if not isinstance(value, bool):
        raise bad("bool_type", MSG_BOOL)
    return value

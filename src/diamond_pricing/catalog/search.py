"""Catalog search: normalized queries, opaque keyset cursors, pages serialized once."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, get_origin
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from diamond_pricing.catalog import queries
from diamond_pricing.catalog.models import Diamond, DiamondPage, SearchFilters, SearchParams
from diamond_pricing.db import DictConn
from diamond_pricing.errors import field_error, pydantic_details, validation_error
from diamond_pricing.schemas import Envelope

CURSOR_VERSION = 1


@dataclass(frozen=True)
class SortSpec:
    """A sortable column: whether it can be null and how a cursor value is read back."""

    column: str
    nullable: bool
    default_descending: bool
    parse: Callable[[Any], Any]


def _decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError("not a decimal string")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError("not finite")
    return result


def _timestamp(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp without offset")
    return parsed


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("not an integer")
    return value


SORTS = {
    "price_model_price": SortSpec("price_model_price", False, False, _decimal),
    "carats": SortSpec("carats", True, False, _decimal),
    "created_at": SortSpec("created_at", False, True, _timestamp),
    "rating": SortSpec("rating", True, True, _integer),
}


@dataclass(frozen=True)
class Cursor:
    """A position in a sorted result: the last row's sort value (None: null part) and id."""

    value: Any
    id: UUID


@dataclass(frozen=True)
class SearchQuery:
    """A validated, normalized search: equal queries have equal ``canonical`` text."""

    filters: SearchFilters
    sort: str
    descending: bool
    limit: int
    cursor: Cursor | None
    cursor_text: str | None

    @property
    def feeds(self) -> tuple[str, ...] | None:
        """The feeds the query can touch; None means every feed."""
        return self.filters.feeds or None

    def canonical(self) -> str:
        """The normalized query as text (parameter order and repeats do not matter)."""
        body = self.filters.canonical()
        body.update(
            sort=self.sort,
            order="desc" if self.descending else "asc",
            limit=self.limit,
            cursor=self.cursor_text,
        )
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def encode_cursor(sort: str, descending: bool, row: dict[str, Any]) -> str:
    """The opaque cursor that continues after ``row``."""
    payload = [CURSOR_VERSION, sort, "desc" if descending else "asc"]
    payload += [_encode_value(row[SORTS[sort].column]), str(row["id"])]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, sort: str, descending: bool) -> Cursor:
    """Read a cursor back; 422 when it is malformed or was made for another sort or order."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        version, c_sort, c_order, value, ident = json.loads(raw)
        if version != CURSOR_VERSION:
            raise ValueError("cursor version")
        cursor = Cursor(value=None if value is None else SORTS[sort].parse(value), id=UUID(ident))
    except (ValueError, TypeError, KeyError, InvalidOperation, binascii.Error) as exc:
        raise validation_error([field_error("cursor", "cursor is not valid")]) from exc
    if (c_sort, c_order) != (sort, "desc" if descending else "asc"):
        raise validation_error(
            [field_error("cursor", "cursor belongs to another sort or order; start over")]
        )
    if value is None and not SORTS[sort].nullable:
        raise validation_error([field_error("cursor", "cursor is not valid")])
    return cursor


def _distinct(values: list[Any]) -> tuple[Any, ...]:
    return tuple(sorted(set(values)))


LIST_PARAMS = frozenset(
    name for name, info in SearchParams.model_fields.items() if get_origin(info.annotation) is list
)


def parse_params(items: Iterable[tuple[str, str]]) -> SearchParams:
    """Validate raw query parameters (repeatable ones collected); 422 naming each bad one."""
    data: dict[str, Any] = {}
    repeated: list[dict[str, Any]] = []
    for name, value in items:
        if name in LIST_PARAMS:
            data.setdefault(name, []).append(value)
        elif name in data:
            repeated.append(field_error(name, "may be given only once", kind="repeated"))
        else:
            data[name] = value
    try:
        params = SearchParams.model_validate(data)
    except ValidationError as exc:
        located = [{**err, "loc": ("query", *err["loc"])} for err in exc.errors()]
        raise validation_error([*pydantic_details(located), *repeated]) from exc
    if repeated:
        raise validation_error(repeated)
    return params


def normalize(params: SearchParams) -> SearchQuery:
    """Turn validated parameters into a normalized query; 422 for contradictory bounds."""
    errors = []
    for low, high in (("carats_min", "carats_max"), ("price_min", "price_max")):
        lo, hi = getattr(params, low), getattr(params, high)
        if lo is not None and hi is not None and lo > hi:
            errors.append(field_error(low, f"{low} must not exceed {high}"))
    if errors:
        raise validation_error(errors)
    filters = SearchFilters(
        feeds=_distinct(params.feed),
        shapes=_distinct(params.shape),
        stone_types=_distinct(params.stone_type),
        lab_grown=_distinct(params.lab_grown),
        colors=_distinct(params.color),
        clarities=_distinct(params.clarity),
        cuts=_distinct(params.cut),
        availability=_distinct(params.availability),
        carats_min=params.carats_min,
        carats_max=params.carats_max,
        price_min=params.price_min,
        price_max=params.price_max,
        rating_min=params.rating_min,
    )
    spec = SORTS[params.sort]
    descending = spec.default_descending if params.order is None else params.order == "desc"
    cursor = (
        None if params.cursor is None else decode_cursor(params.cursor, params.sort, descending)
    )
    return SearchQuery(
        filters=filters,
        sort=params.sort,
        descending=descending,
        limit=params.limit,
        cursor=cursor,
        cursor_text=params.cursor,
    )


def _nulls_excluded(query: SearchQuery) -> bool:
    """True when the filters already rule out a null sort key."""
    f = query.filters
    if query.sort == "carats":
        return f.carats_min is not None or f.carats_max is not None
    if query.sort == "rating":
        return f.rating_min is not None
    return True


async def search_rows(conn: DictConn, query: SearchQuery) -> tuple[list[dict[str, Any]], bool]:
    """One page of rows and whether more follow (non-null sort keys first, then nulls)."""
    spec = SORTS[query.sort]
    want = query.limit + 1
    cursor = query.cursor
    rows: list[dict[str, Any]] = []

    async def part(*, null_part: bool, after: tuple[Any, UUID] | None, limit: int) -> list[Any]:
        return await queries.search_diamonds(
            conn,
            filters=query.filters,
            sort=spec.column,
            descending=query.descending,
            null_part=null_part,
            after=after,
            limit=limit,
        )

    if cursor is None or cursor.value is not None:
        after = None if cursor is None else (cursor.value, cursor.id)
        rows = await part(null_part=False, after=after, limit=want)
    if spec.nullable and len(rows) < want and not _nulls_excluded(query):
        after = (None, cursor.id) if cursor is not None and cursor.value is None else None
        rows += await part(null_part=True, after=after, limit=want - len(rows))
    return rows[: query.limit], len(rows) > query.limit


PAGE = TypeAdapter(Envelope[DiamondPage])
ONE = TypeAdapter(Envelope[Diamond])


async def search_page_json(conn: DictConn, query: SearchQuery) -> bytes:
    """The serialized response body of one search page."""
    rows, more = await search_rows(conn, query)
    next_cursor = encode_cursor(query.sort, query.descending, rows[-1]) if more else None
    page = {"data": {"diamonds": rows, "next_cursor": next_cursor}}
    return PAGE.dump_json(PAGE.validate_python(page))


async def diamond_json(conn: DictConn, diamond_id: UUID) -> bytes | None:
    """The serialized response body of one diamond, or None when it does not exist."""
    row = await queries.get_diamond(conn, diamond_id=diamond_id)
    if row is None:
        return None
    return ONE.dump_json(ONE.validate_python({"data": row}))

"""Helpers of the catalog tests: synthetic feed rows, rules with ratings, a search oracle."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import psycopg

from diamond_pricing.pricing.engine import PricingEngine
from diamond_pricing.pricing.rules import load_engine
from tests.support import run_async

SHAPES = ("round", "oval", "pear", "heart")
COLORS = ("D", "E", "F", "G")
CLARITIES = ("IF", "VS1", "SI1")
CUTS = ("Excellent", "Very Good")
AVAILABILITY = ("available", "available", "available", "on_hold", "sold")


def diamond(stone_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid upsert row."""
    row: dict[str, Any] = {
        "supplier_stone_id": stone_id,
        "shape": "round",
        "carats": "1.01",
        "color": "G",
        "clarity": "VS1",
        "cut": "Excellent",
        "lab_grown": True,
        "feed_price": "1000.00",
        "availability": "available",
    }
    row.update(overrides)
    return row


def random_diamonds(rng: random.Random, prefix: str, count: int) -> list[dict[str, Any]]:
    """Varied rows: nullable carats, natural / lab / fancy, several availabilities."""
    rows = []
    for i in range(count):
        kind = rng.random()
        carats = None if rng.random() < 0.15 else f"{rng.randint(20, 400) / 100:.2f}"
        rows.append(
            diamond(
                f"{prefix}-{i:04d}",
                shape=rng.choice(SHAPES),
                carats=carats,
                color=rng.choice(COLORS),
                clarity=rng.choice(CLARITIES),
                cut=rng.choice(CUTS),
                lab_grown=kind < 0.6,
                fancy_color="Pink" if kind > 0.9 else None,
                # few distinct costs: ties in price exercise the id tie-breaker
                feed_price=f"{rng.choice((300, 800, 1500, 4000, 12000, 25000))}.{rng.randint(0, 3)}0",
                availability=rng.choice(AVAILABILITY),
            )
        )
    return rows


def add_rating_rules(db: psycopg.Connection[dict[str, Any]]) -> None:
    """Rules that give natural stones rating 7 and lab stones of feed beta rating 3."""
    db.execute(
        "INSERT INTO pricing_rules (priority, stone_type, feed, margin_modifier, rating) VALUES"
        " (1, 'natural', NULL, 2.00, 7), (2, 'lab', 'beta', -1.50, 3)"
    )


def put_diamonds(
    client: httpx.Client, key: str, feed: str, rows: list[dict[str, Any]]
) -> httpx.Response:
    """PUT /feeds/{feed}/diamonds."""
    return client.put(
        f"/api/v2/feeds/{feed}/diamonds", json={"diamonds": rows}, headers={"X-API-Key": key}
    )


def engine_of(db_url: str) -> PricingEngine:
    """The engine over the database's current rules (default base margins)."""
    from diamond_pricing.settings import Settings

    return run_async(db_url, lambda conn: load_engine(conn, Settings(database_url=db_url)))


def all_rows(db: psycopg.Connection[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every diamond row."""
    return db.execute("SELECT * FROM diamonds").fetchall()


def fetch_all_pages(
    client: httpx.Client, params: dict[str, Any], between: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Follow next_cursor to the end; ``between(page_no)`` runs before each next page."""
    out: list[dict[str, Any]] = []
    cursor = None
    for page_no in range(10_000):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get("/api/v2/diamonds", params=query)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        out.extend(data["diamonds"])
        cursor = data["next_cursor"]
        if cursor is None:
            return out
        assert len(data["diamonds"]) == query.get("limit", 50)
        if between is not None:
            between(page_no)
    raise AssertionError("pagination did not end")


def expected_order(
    rows: Iterable[dict[str, Any]], sort: str, descending: bool
) -> list[dict[str, Any]]:
    """The catalog's order: sort key then id, both in the requested direction, nulls last."""
    present = [r for r in rows if r[sort] is not None]
    missing = [r for r in rows if r[sort] is None]
    present.sort(key=lambda r: (r[sort], UUID(str(r["id"]))), reverse=descending)
    missing.sort(key=lambda r: UUID(str(r["id"])), reverse=descending)
    return present + missing


def matches(row: dict[str, Any], params: dict[str, Any]) -> bool:
    """The search filters of SPEC §4, applied to one stored row (test oracle)."""

    def values(name: str) -> list[Any]:
        value = params.get(name, [])
        return value if isinstance(value, list) else [value]

    for name in ("feed", "shape", "stone_type", "color", "clarity", "cut"):
        if values(name) and row[name] not in values(name):
            return False
    if values("lab_grown") and row["lab_grown"] not in [v == "true" for v in values("lab_grown")]:
        return False
    if row["availability"] not in (values("availability") or ["available"]):
        return False
    for name, column, op in (
        ("carats_min", "carats", "ge"),
        ("carats_max", "carats", "le"),
        ("price_min", "price_model_price", "ge"),
        ("price_max", "price_model_price", "le"),
        ("rating_min", "rating", "ge"),
    ):
        if name in params:
            bound = Decimal(str(params[name]))
            value = row[column]
            if value is None:
                return False
            if (op == "ge" and value < bound) or (op == "le" and value > bound):
                return False
    return True

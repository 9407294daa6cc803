"""POST /pricing/quote gives exactly the engine's result for the current active rules."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from diamond_pricing.auth.keys import Role, create_key
from diamond_pricing.pricing.engine import PricingEngine
from diamond_pricing.pricing.rules import load_engine
from tests.pricing.helpers import problems
from tests.support import make_settings, run_async, running_server

QUOTE = "/api/v2/pricing/quote"
QUOTE_FIELDS = {
    "stone_type",
    "base_margin",
    "matched_rule_id",
    "margin_modifier",
    "effective_margin",
    "markup_ratio",
    "price_model_price",
    "price_per_carat",
    "rating",
}
ACME_RULE_ID = "11111111-1111-4111-8111-111111111111"

# (case id, request body); fancy rules are deactivated so fancy stones match nothing.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("natural first bracket", {"feed": "x", "feed_price": "250.00", "carats": "0.50"}),
    ("natural bracket upper bound", {"feed": "x", "feed_price": "499.99", "carats": 1}),
    ("natural next bracket lower bound", {"feed": "x", "feed_price": 500, "carats": "1.00"}),
    ("natural open top bracket", {"feed": "x", "feed_price": "250000.00", "carats": "5.03"}),
    ("lab mid bracket", {"feed": "x", "feed_price": 1450.5, "carats": 1.01, "lab_grown": True}),
    ("lab price 0", {"feed": "x", "feed_price": 0, "carats": "0.30", "lab_grown": True}),
    ("missing carats", {"feed": "x", "feed_price": "7000.00"}),
    ("zero carats", {"feed": "x", "feed_price": "7000.00", "carats": 0}),
    (
        "feed rule wins with its rating",
        {"feed": "acme", "feed_price": "1234.56", "carats": "0.90", "lab_grown": True},
    ),
    (
        "feed rule outside its price range",
        {"feed": "acme", "feed_price": "5000.01", "carats": "2.00", "lab_grown": True},
    ),
    (
        "fancy stone matches no rule",
        {"feed": "x", "feed_price": "3333.33", "carats": "1.11", "fancy_color": "Pink"},
    ),
    (
        "blank fancy colour is not fancy",
        {"feed": "x", "feed_price": "3333.33", "carats": "1.11", "fancy_color": "  "},
    ),
    (
        "every attribute given",
        {
            "feed": "x",
            "supplier_stone_id": "S-1",
            "shape": "round",
            "carats": "1.23",
            "color": "G",
            "clarity": "VS1",
            "cut": "EX",
            "polish": "EX",
            "symmetry": "VG",
            "fluorescence": "NONE",
            "lab_grown": False,
            "fancy_color": None,
            "fancy_intensity": None,
            "certificate_lab": "GIA",
            "certificate_number": "123",
            "image_url": "https://example.com/1.jpg",
            "feed_price": "12345.67",
            "availability": "on_hold",
        },
    ),
]


@pytest.fixture(scope="module")
def quote_setup(shared_db_url: str) -> Iterator[tuple[httpx.Client, PricingEngine]]:
    """A server over rules with a feed-specific rule and no fancy rules, and its engine."""
    with psycopg.connect(shared_db_url, autocommit=True) as conn:
        conn.execute("UPDATE pricing_rules SET active = false WHERE stone_type = 'fancy'")
        conn.execute(
            "INSERT INTO pricing_rules"
            " (id, priority, feed, price_min, price_max, margin_modifier, rating)"
            " VALUES (%s, 1, 'acme', 1000, 5000, 12.34, 9)",
            [ACME_RULE_ID],
        )
    settings = make_settings(shared_db_url, base_margin_fancy=Decimal("55.5"))
    engine = run_async(shared_db_url, lambda conn: load_engine(conn, settings))
    _, secret = run_async(
        shared_db_url, lambda conn: create_key(conn, name="quote-reader", role=Role.READ)
    )
    with (
        running_server(settings, shared_db_url) as url,
        httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": secret}) as http,
    ):
        yield http, engine


@pytest.mark.parametrize("body", [pytest.param(body, id=case) for case, body in CASES])
def test_quote_equals_the_engine_result(
    quote_setup: tuple[httpx.Client, PricingEngine], body: dict[str, Any]
) -> None:
    client, engine = quote_setup
    response = client.post(QUOTE, json=body)
    assert response.status_code == 200, response.text
    quote = response.json()["data"]
    assert set(quote) == QUOTE_FIELDS
    carats = body.get("carats")
    expected = engine.price(
        feed=body["feed"],
        feed_price=Decimal(str(body["feed_price"])),
        carats=None if carats is None else Decimal(str(carats)),
        lab_grown=body.get("lab_grown", False),
        fancy_color=body.get("fancy_color"),
    )
    assert quote["stone_type"] == expected.stone_type.value
    assert quote["matched_rule_id"] == (
        None if expected.matched_rule_id is None else str(expected.matched_rule_id)
    )
    assert quote["rating"] == expected.rating
    for name in QUOTE_FIELDS - {"stone_type", "matched_rule_id", "rating"}:
        assert isinstance(quote[name], str), name
        assert Decimal(quote[name]) == getattr(expected, name), name


def test_quote_explains_a_feed_rule_and_a_no_match(
    quote_setup: tuple[httpx.Client, PricingEngine],
) -> None:
    client, _ = quote_setup
    feed_rule = client.post(
        QUOTE, json={"feed": "acme", "feed_price": "1000.00", "carats": "0.50"}
    ).json()["data"]
    assert feed_rule == {
        "stone_type": "natural",
        "base_margin": "40.00",
        "matched_rule_id": ACME_RULE_ID,
        "margin_modifier": "12.34",
        "effective_margin": "52.34",
        "markup_ratio": "1.5234",
        "price_model_price": "1523.40",
        "price_per_carat": "2000.00",
        "rating": 9,
    }
    no_match = client.post(
        QUOTE, json={"feed": "x", "feed_price": "100.00", "fancy_color": "Blue"}
    ).json()["data"]
    assert no_match == {
        "stone_type": "fancy",
        "base_margin": "55.50",
        "matched_rule_id": None,
        "margin_modifier": "0.00",
        "effective_margin": "55.50",
        "markup_ratio": "1.5550",
        "price_model_price": "155.50",
        "price_per_carat": "0.00",
        "rating": None,
    }


def test_quote_validates_its_input(quote_setup: tuple[httpx.Client, PricingEngine]) -> None:
    client, _ = quote_setup
    response = client.post(
        QUOTE,
        json={
            "feed_price": "-1",
            "carats": "1.234",
            "availability": "gone",
            "lab_grown": "maybe",
            "price": 1,
        },
    )
    assert sorted(field for field, _ in problems(response)) == [
        "availability",
        "carats",
        "feed",
        "feed_price",
        "lab_grown",
        "price",
    ]

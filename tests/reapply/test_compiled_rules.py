"""The rule set compiled to SQL prices every stone exactly like the engine (property test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diamond_pricing.pricing.engine import BaseMargins, Rule, StoneType, ratio_is_representable
from diamond_pricing.reapply import batches
from diamond_pricing.reapply.compile import PRICE_LIMIT, RuleSet, compile_rules
from tests.support import run_async

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
FEEDS = ("atlas", "lab'core", 'north"star', "x")
BOUNDS = (Decimal("0.00"), Decimal("499.99"), Decimal("500.00"), Decimal("1000.00"))

cents = st.integers(min_value=0, max_value=300_000).map(lambda n: Decimal(n).scaleb(-2))
prices = st.one_of(cents, st.sampled_from(BOUNDS), st.sampled_from((Decimal("9999999999.99"),)))
# Mostly realistic modifiers, sometimes ones whose ratio cannot be stored (<= 0 or >= 10).
modifiers = st.one_of(
    st.integers(min_value=-6_000, max_value=6_000), st.integers(min_value=-99_999, max_value=99_999)
).map(lambda n: Decimal(n).scaleb(-2))
margins = st.integers(min_value=0, max_value=15_000).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    """A rule; priorities and timestamps collide often so precedence tie-breaks matter."""
    low = draw(st.none() | st.one_of(cents, st.sampled_from(BOUNDS)))
    high = draw(st.none() | st.one_of(cents, st.sampled_from(BOUNDS)))
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Rule(
        id=draw(st.uuids()),
        priority=draw(st.integers(min_value=0, max_value=3)),
        created_at=EPOCH + timedelta(seconds=draw(st.integers(min_value=0, max_value=1))),
        margin_modifier=draw(modifiers),
        stone_type=draw(st.none() | st.sampled_from(StoneType)),
        feed=draw(st.none() | st.sampled_from(FEEDS)),
        price_min=low,
        price_max=high,
        rating=draw(st.none() | st.integers(min_value=1, max_value=10)),
    )


stones = st.fixed_dictionaries(
    {
        "feed": st.sampled_from(FEEDS),
        "feed_price": prices,
        "lab_grown": st.booleans(),
        "fancy_color": st.sampled_from((None, "", "  ", "\t", "Pink", " Blue ")),
    }
)


def _insert(db: psycopg.Connection[dict[str, Any]], stone_rows: list[dict[str, Any]]) -> list[Any]:
    ids = []
    for n, stone in enumerate(stone_rows):
        row = db.execute(
            "INSERT INTO diamonds (feed, supplier_stone_id, feed_price, price_model_price,"
            " lab_grown, fancy_color) VALUES (%(feed)s, %(sid)s, %(feed_price)s, 0,"
            " %(lab_grown)s, %(fancy_color)s) RETURNING id",
            {**stone, "sid": f"s{n}"},
        ).fetchone()
        assert row is not None
        ids.append(row["id"])
    return ids


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rule_list=st.lists(rules(), max_size=8),
    stone_rows=st.lists(stones, min_size=1, max_size=25),
    base=st.tuples(margins, margins, margins),
)
def test_sql_prices_equal_the_engine_for_random_rules_and_stones(
    db: psycopg.Connection[dict[str, Any]],
    db_url: str,
    rule_list: list[Rule],
    stone_rows: list[dict[str, Any]],
    base: tuple[Decimal, Decimal, Decimal],
) -> None:
    db.execute("DELETE FROM diamonds")
    ids = _insert(db, stone_rows)
    rule_set = RuleSet.of(rule_list, BaseMargins(*base))
    engine = rule_set.engine()
    compiled = compile_rules(rule_set)
    rows = run_async(db_url, lambda conn: batches.dry_run_prices(conn, compiled=compiled, ids=ids))
    by_id = {row["id"]: row for row in rows}
    for diamond_id, stone in zip(ids, stone_rows, strict=True):
        expected = engine.price(
            feed=stone["feed"],
            feed_price=stone["feed_price"],
            carats=None,
            lab_grown=stone["lab_grown"],
            fancy_color=stone["fancy_color"],
        )
        got = by_id[diamond_id]
        storable = (
            ratio_is_representable(expected.markup_ratio)
            and stone["feed_price"] * expected.markup_ratio < PRICE_LIMIT
        )
        assert got["ok"] is storable, (stone, expected, got)
        assert got["rule_id"] == expected.matched_rule_id, (stone, expected, got)
        assert got["new_rating"] == expected.rating
        if storable:
            assert got["new_markup_ratio"] == expected.markup_ratio
            assert str(got["new_price_model_price"]) == str(expected.price_model_price)


def test_compiled_rules_quote_hostile_feed_names(
    db: psycopg.Connection[dict[str, Any]], db_url: str
) -> None:
    feed = "x'); DELETE FROM diamonds; --"
    rule = Rule(
        id=uuid.uuid4(), priority=1, margin_modifier=Decimal("5"), created_at=EPOCH, feed=feed
    )
    ids = _insert(
        db,
        [
            {"feed": feed, "feed_price": Decimal("100"), "lab_grown": False, "fancy_color": None},
            {
                "feed": "other",
                "feed_price": Decimal("100"),
                "lab_grown": False,
                "fancy_color": None,
            },
        ],
    )
    compiled = compile_rules(RuleSet.of([rule], BaseMargins()))
    rows = run_async(db_url, lambda conn: batches.dry_run_prices(conn, compiled=compiled, ids=ids))
    by_id = {row["id"]: row for row in rows}
    assert by_id[ids[0]]["new_price_model_price"] == Decimal("145.00")
    assert by_id[ids[1]]["new_price_model_price"] == Decimal("140.00")
    assert db.execute("SELECT count(*) AS n FROM diamonds").fetchone() == {"n": 2}

"""Properties of the pricing engine over generated rules and stones, and its agreement with PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diamond_pricing.pricing.engine import (
    BaseMargins,
    PricingEngine,
    Rule,
    StoneType,
    price_per_carat_for,
    round_cents,
    stone_type_of,
)
from tests.foundation.rulesets import EPOCH

FEEDS = ("atlas", "labcore", "northstar")

cents = st.integers(min_value=0, max_value=999_999_999_999)  # numeric(12,2) in cents
modifiers = st.integers(min_value=-3_900, max_value=3_900).map(lambda n: Decimal(n).scaleb(-2))
prices = cents.map(lambda n: Decimal(n).scaleb(-2))
small_prices = st.integers(min_value=0, max_value=2_000_000).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    """An arbitrary rule; priorities and timestamps collide often so tie-breaks get exercised."""
    low = draw(st.none() | small_prices)
    high = draw(st.none() | small_prices)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Rule(
        id=draw(st.uuids()),
        priority=draw(st.integers(min_value=0, max_value=5)),
        created_at=EPOCH + timedelta(seconds=draw(st.integers(min_value=0, max_value=2))),
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
        "feed_price": st.one_of(small_prices, prices),
        "carats": st.none()
        | st.integers(min_value=0, max_value=999_999).map(lambda n: Decimal(n).scaleb(-2)),
        "lab_grown": st.booleans(),
        "fancy_color": st.none() | st.sampled_from(["", " ", "Pink", "Blue "]),
    }
)
margins = st.builds(
    BaseMargins,
    natural=st.integers(min_value=0, max_value=100).map(Decimal),
    lab=st.integers(min_value=0, max_value=100).map(Decimal),
    fancy=st.integers(min_value=0, max_value=100).map(Decimal),
)


def half_up_cents(cost: Decimal, ratio: Decimal) -> Decimal:
    """Independent oracle: cost × ratio to cents, half away from zero, in integer arithmetic."""
    micro = int(cost.scaleb(2)) * int(ratio.scaleb(4))  # units of 1e-6
    whole, rest = divmod(micro, 10_000)
    return Decimal(whole + (1 if rest >= 5_000 else 0)).scaleb(-2)


def first_match(rules: list[Rule], stone: dict[str, Any]) -> Rule | None:
    """Independent oracle: sort by (priority, created_at, id) and test each criterion."""
    kind = stone_type_of(lab_grown=stone["lab_grown"], fancy_color=stone["fancy_color"])
    for rule in sorted(rules, key=lambda r: (r.priority, r.created_at, r.id.int)):
        if (
            (rule.stone_type in (None, kind))
            and (rule.feed in (None, stone["feed"]))
            and (rule.price_min is None or rule.price_min <= stone["feed_price"])
            and (rule.price_max is None or stone["feed_price"] <= rule.price_max)
        ):
            return rule
    return None


@settings(max_examples=200, deadline=None)
@given(rule_set=st.lists(rules(), max_size=12), stone=stones, base=margins)
def test_price_is_cost_times_ratio_rounded_half_up(
    rule_set: list[Rule], stone: dict[str, Any], base: BaseMargins
) -> None:
    result = PricingEngine.build(rule_set, base).price(**stone)
    expected_rule = first_match(rule_set, stone)
    assert result.matched_rule_id == (expected_rule.id if expected_rule else None)
    assert result.rating == (expected_rule.rating if expected_rule else None)
    modifier = expected_rule.margin_modifier if expected_rule else Decimal(0)
    assert result.effective_margin == base.for_type(result.stone_type) + modifier
    assert result.markup_ratio == 1 + result.effective_margin / 100
    assert result.price_model_price == half_up_cents(stone["feed_price"], result.markup_ratio)


@settings(max_examples=100, deadline=None)
@given(rule_set=st.lists(rules(), max_size=12), stone=stones, seed=st.integers())
def test_result_does_not_depend_on_rule_input_order(
    rule_set: list[Rule], stone: dict[str, Any], seed: int
) -> None:
    shuffled = list(rule_set)
    random.Random(seed).shuffle(shuffled)
    assert PricingEngine.build(shuffled).price(**stone) == PricingEngine.build(rule_set).price(
        **stone
    )


def test_precedence_alone_decides_between_overlapping_rules() -> None:
    # Same criteria, different effects: only (priority, created_at, id) may pick the winner.
    ids = sorted(uuid.uuid4() for _ in range(3))
    overlapping = [
        Rule(id=ids[i], priority=1, created_at=EPOCH, margin_modifier=Decimal(i)) for i in range(3)
    ]
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        engine = PricingEngine.build([overlapping[i] for i in order])
        result = engine.price(
            feed="atlas", feed_price=Decimal("1"), carats=None, lab_grown=False, fancy_color=None
        )
        assert result.matched_rule_id == ids[0]


HALF_CENT_CASES = [
    (Decimal("2.50"), Decimal("1.0500")),
    (Decimal("0.01"), Decimal("1.5000")),
    (Decimal("0.05"), Decimal("1.1000")),
    (Decimal("9999999999.99"), Decimal("9.9999")),
    (Decimal("0.00"), Decimal("0.0001")),
    (Decimal("1234.50"), Decimal("1.0010")),
]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    pairs=st.lists(
        st.tuples(
            prices, st.integers(min_value=1, max_value=99_999).map(lambda n: Decimal(n).scaleb(-4))
        ),
        min_size=1,
        max_size=400,
    ),
    carats=st.lists(st.integers(min_value=1, max_value=999_999), min_size=400, max_size=400),
)
def test_engine_rounding_equals_postgresql_round(
    db: psycopg.Connection[dict[str, Any]],
    pairs: list[tuple[Decimal, Decimal]],
    carats: list[int],
) -> None:
    batch = HALF_CENT_CASES + pairs
    costs = [cost for cost, _ in batch]
    ratios = [ratio for _, ratio in batch]
    sizes = [Decimal(n).scaleb(-2) for n in carats[: len(batch)]]
    sizes += [Decimal("1.00")] * (len(batch) - len(sizes))
    rows = db.execute(
        "SELECT round(c * r, 2) AS price, round(c / k, 2) AS per_carat"
        " FROM unnest(%(c)s::numeric[], %(r)s::numeric[], %(k)s::numeric[]) WITH ORDINALITY"
        " AS t(c, r, k, n) ORDER BY n",
        {"c": costs, "r": ratios, "k": sizes},
    ).fetchall()
    assert [row["price"] for row in rows] == [
        round_cents(c * r) for c, r in zip(costs, ratios, strict=True)
    ]
    assert [row["per_carat"] for row in rows] == [
        price_per_carat_for(c, k) for c, k in zip(costs, sizes, strict=True)
    ]


def test_engine_stone_type_agrees_with_the_generated_column(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    colours = [None, "", " ", "   ", "Pink", " Pink ", "\t", "\n", "\u00a0", "x"]
    cases = [(lab, colour) for lab in (False, True) for colour in colours]
    for index, (lab, colour) in enumerate(cases):
        db.execute(
            "INSERT INTO diamonds (feed, supplier_stone_id, lab_grown, fancy_color, feed_price,"
            " price_model_price) VALUES ('atlas', %s, %s, %s, 1, 1)",
            (f"s{index}", lab, colour),
        )
    rows = db.execute(
        "SELECT lab_grown, fancy_color, stone_type FROM diamonds ORDER BY supplier_stone_id"
    ).fetchall()
    assert len(rows) == len(cases)
    for row in rows:
        engine_kind = stone_type_of(lab_grown=row["lab_grown"], fancy_color=row["fancy_color"])
        assert engine_kind.value == row["stone_type"], row

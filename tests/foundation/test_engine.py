"""The pricing engine follows SPEC §2 rule by rule (pure: no database)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from diamond_pricing.pricing.engine import (
    BaseMargins,
    PriceResult,
    PricingEngine,
    Rule,
    StoneType,
    markup_ratio_for,
    modifier_keeps_ratio_valid,
    price_per_carat_for,
    round_cents,
    stone_type_of,
)
from tests.foundation.rulesets import EPOCH, default_rules, make_rule

D = Decimal


def quote(
    engine: PricingEngine,
    feed_price: str,
    *,
    feed: str = "atlas",
    carats: str | None = "1.00",
    lab_grown: bool = False,
    fancy_color: str | None = None,
) -> PriceResult:
    """Price one stone with terse arguments."""
    return engine.price(
        feed=feed,
        feed_price=D(feed_price),
        carats=None if carats is None else D(carats),
        lab_grown=lab_grown,
        fancy_color=fancy_color,
    )


# --- stone type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lab_grown", "fancy_color", "expected"),
    [
        (False, None, StoneType.NATURAL),
        (True, None, StoneType.LAB),
        (False, "Pink", StoneType.FANCY),
        (True, "Pink", StoneType.FANCY),  # a fancy colour beats lab-grown
        (True, "", StoneType.LAB),
        (False, "", StoneType.NATURAL),
        (True, "   ", StoneType.LAB),  # spaces only is no colour
        (False, " ", StoneType.NATURAL),
        (False, " Yellow ", StoneType.FANCY),
    ],
)
def test_stone_type_is_fancy_then_lab_then_natural(
    lab_grown: bool, fancy_color: str | None, expected: StoneType
) -> None:
    assert stone_type_of(lab_grown=lab_grown, fancy_color=fancy_color) is expected


def test_fancy_lab_grown_stone_is_priced_with_the_fancy_margin_and_rules() -> None:
    engine = PricingEngine.build(default_rules())
    result = quote(engine, "4000.00", lab_grown=True, fancy_color="Blue")
    assert result.stone_type is StoneType.FANCY
    assert result.base_margin == D("40")
    assert result.matched_rule_id == engine.rules[3 + 14].id  # fancy 3000–5999.99, priority 33
    assert result.markup_ratio == D("1.4000")


# --- base margins -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lab_grown", "fancy_color", "ratio", "price"),
    [
        (False, None, "1.4000", "1400.00"),
        (True, None, "1.7900", "1790.00"),
        (False, "Pink", "1.4000", "1400.00"),
    ],
)
def test_base_margins_apply_when_no_rule_exists(
    lab_grown: bool, fancy_color: str | None, ratio: str, price: str
) -> None:
    result = quote(PricingEngine.build([]), "1000.00", lab_grown=lab_grown, fancy_color=fancy_color)
    assert result.markup_ratio == D(ratio)
    assert result.price_model_price == D(price)


def test_configured_base_margins_replace_the_defaults() -> None:
    margins = BaseMargins(natural=D("50"), lab=D("60.5"), fancy=D("70"))
    engine = PricingEngine.build([], margins)
    assert quote(engine, "100.00").markup_ratio == D("1.5000")
    assert quote(engine, "100.00", lab_grown=True).markup_ratio == D("1.6050")
    assert quote(engine, "100.00", fancy_color="Blue").markup_ratio == D("1.7000")


# --- matching and precedence ------------------------------------------------------------------


def test_the_first_matching_rule_by_priority_wins_whatever_the_input_order() -> None:
    broad = make_rule(50, "10", rating=2)
    narrow = make_rule(5, "-3", stone_type="natural", rating=9)
    for rules in ([broad, narrow], [narrow, broad]):
        engine = PricingEngine.build(rules)
        result = quote(engine, "1000.00")
        assert result.matched_rule_id == narrow.id
        assert result.margin_modifier == D("-3")
        assert result.rating == 9
    lab = quote(PricingEngine.build([broad, narrow]), "1000.00", lab_grown=True)
    assert lab.matched_rule_id == broad.id  # the narrow rule does not match lab stones


def test_equal_priorities_are_broken_by_created_at_then_id() -> None:
    older = make_rule(7, "1", created_at=EPOCH)
    newer = make_rule(7, "2", created_at=EPOCH + timedelta(microseconds=1))
    assert quote(PricingEngine.build([newer, older]), "10.00").matched_rule_id == older.id

    low_id = make_rule(7, "3", id=uuid.UUID(int=1))
    high_id = make_rule(7, "4", id=uuid.UUID(int=2))
    for rules in ([high_id, low_id], [low_id, high_id]):
        assert quote(PricingEngine.build(rules), "10.00").matched_rule_id == low_id.id


def test_precedence_orders_uuids_like_postgresql_bytewise() -> None:
    # PostgreSQL compares uuids byte by byte, i.e. as unsigned big-endian integers.
    first = make_rule(1, "1", id=uuid.UUID("0fffffff-ffff-ffff-ffff-ffffffffffff"))
    second = make_rule(1, "2", id=uuid.UUID("f0000000-0000-0000-0000-000000000000"))
    assert PricingEngine.build([second, first]).rules == (first, second)


@pytest.mark.parametrize(
    ("feed_price", "matches"),
    [
        ("99.99", False),
        ("100.00", True),  # price_min is inclusive
        ("150.00", True),
        ("200.00", True),  # price_max is inclusive
        ("200.01", False),
    ],
)
def test_price_bounds_are_inclusive(feed_price: str, matches: bool) -> None:
    rule = make_rule(1, "5", price_min="100.00", price_max="200.00")
    result = quote(PricingEngine.build([rule]), feed_price)
    assert (result.matched_rule_id == rule.id) is matches


@pytest.mark.parametrize(
    ("criteria", "matching_stone", "other_stone"),
    [
        ({"stone_type": "lab"}, {"lab_grown": True}, {"lab_grown": False}),
        ({"stone_type": "fancy"}, {"fancy_color": "Pink"}, {"lab_grown": True}),
        ({"stone_type": "natural"}, {}, {"fancy_color": "Pink"}),
        ({"feed": "labcore"}, {"feed": "labcore"}, {"feed": "atlas"}),
        ({"price_min": "500.00"}, {"feed_price": "500.00"}, {"feed_price": "499.99"}),
        ({"price_max": "500.00"}, {"feed_price": "500.00"}, {"feed_price": "500.01"}),
    ],
)
def test_each_criterion_alone_decides_the_match(
    criteria: dict[str, str], matching_stone: dict[str, object], other_stone: dict[str, object]
) -> None:
    rule = make_rule(1, "2", rating=4, **criteria)
    engine = PricingEngine.build([rule])
    base: dict[str, object] = {"feed_price": "600.00"} if "price_max" not in criteria else {}
    hit = quote(engine, **{"feed_price": "400.00", **base, **matching_stone})  # type: ignore[arg-type]
    miss = quote(engine, **{"feed_price": "400.00", **base, **other_stone})  # type: ignore[arg-type]
    assert hit.matched_rule_id == rule.id
    assert miss.matched_rule_id is None


def test_a_rule_without_criteria_matches_every_stone() -> None:
    rule = make_rule(1, "1")
    engine = PricingEngine.build([rule])
    stones: list[dict[str, Any]] = [{}, {"lab_grown": True}, {"fancy_color": "Pink", "feed": "x"}]
    for stone in stones:
        assert quote(engine, "0.00", **stone).matched_rule_id == rule.id


def test_all_criteria_of_a_rule_must_hold() -> None:
    rule = make_rule(1, "1", stone_type="lab", feed="labcore", price_min="10.00", price_max="20.00")
    engine = PricingEngine.build([rule])
    assert quote(engine, "15.00", feed="labcore", lab_grown=True).matched_rule_id == rule.id
    assert quote(engine, "15.00", feed="atlas", lab_grown=True).matched_rule_id is None
    assert quote(engine, "15.00", feed="labcore").matched_rule_id is None
    assert quote(engine, "25.00", feed="labcore", lab_grown=True).matched_rule_id is None


def test_no_matching_rule_means_modifier_zero_and_no_rating() -> None:
    rule = make_rule(1, "12", stone_type="fancy", rating=8)
    result = quote(PricingEngine.build([rule]), "1000.00", lab_grown=True)
    assert result.matched_rule_id is None
    assert result.margin_modifier == D("0")
    assert result.effective_margin == D("79")
    assert result.rating is None
    assert result.price_model_price == D("1790.00")


def test_rating_comes_from_the_matched_rule_only() -> None:
    first = make_rule(1, "0", stone_type="natural")
    second = make_rule(2, "0", rating=10)
    engine = PricingEngine.build([first, second])
    assert quote(engine, "100.00").rating is None  # first wins and has no rating
    assert quote(engine, "100.00", lab_grown=True).rating == 10


def test_result_explains_how_the_price_was_reached() -> None:
    rule = make_rule(3, "-4.25", stone_type="lab", rating=6)
    result = quote(PricingEngine.build([rule]), "2000.00", carats="1.60", lab_grown=True)
    assert result == PriceResult(
        stone_type=StoneType.LAB,
        base_margin=D("79"),
        matched_rule_id=rule.id,
        margin_modifier=D("-4.25"),
        effective_margin=D("74.75"),
        markup_ratio=D("1.7475"),
        price_model_price=D("3495.00"),
        price_per_carat=D("1250.00"),
        rating=6,
    )


# --- the default rule set -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed_price", "modifier"),
    [
        ("0.00", "6"),
        ("499.99", "6"),
        ("500.00", "6"),
        ("999.99", "6"),
        ("1000.00", "3"),
        ("2999.99", "3"),
        ("3000.00", "0"),
        ("5999.99", "0"),
        ("6000.00", "-4"),
        ("9999.99", "-4"),
        ("10000.00", "-9"),
        ("19999.99", "-9"),
        ("20000.00", "-14"),
        ("9999999999.99", "-14"),
    ],
)
@pytest.mark.parametrize("stone", [{}, {"lab_grown": True}, {"fancy_color": "Pink"}])
def test_default_rules_apply_the_spec_brackets(
    feed_price: str, modifier: str, stone: dict[str, object]
) -> None:
    engine = PricingEngine.build(default_rules())
    result = quote(engine, feed_price, **stone)  # type: ignore[arg-type]
    assert result.margin_modifier == D(modifier)
    matched = next(rule for rule in engine.rules if rule.id == result.matched_rule_id)
    assert matched.stone_type is result.stone_type


# --- ratio, rounding, extremes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("effective", "ratio"),
    [
        ("79", "1.7900"),
        ("65", "1.6500"),
        ("79.25", "1.7925"),
        ("-99.99", "0.0001"),
        ("899.99", "9.9999"),
        ("0", "1.0000"),
    ],
)
def test_markup_ratio_is_one_plus_margin_over_100_to_four_places(
    effective: str, ratio: str
) -> None:
    result = markup_ratio_for(D(effective))
    assert result == D(ratio)
    assert result.as_tuple().exponent == -4


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("2.625", "2.63"),  # half-even would give 2.62
        ("2.635", "2.64"),
        ("0.005", "0.01"),
        ("0.015", "0.02"),
        ("2.6249999", "2.62"),
        ("-2.625", "-2.63"),  # away from zero, like PostgreSQL
        ("12599999999.9874", "12599999999.99"),
    ],
)
def test_round_cents_is_half_away_from_zero(value: str, rounded: str) -> None:
    assert round_cents(D(value)) == D(rounded)
    assert str(round_cents(D(value))) == rounded


def test_a_half_cent_product_rounds_up() -> None:
    # 2.50 × 1.05 = 2.625 exactly: the retail price is 2.63, not the banker's 2.62.
    engine = PricingEngine.build([make_rule(1, "-35")])
    result = quote(engine, "2.50")
    assert result.markup_ratio == D("1.0500")
    assert result.price_model_price == D("2.63")


def test_huge_prices_stay_exact() -> None:
    engine = PricingEngine.build(default_rules())
    result = quote(engine, "9999999999.99", carats="0.01")
    assert result.markup_ratio == D("1.2600")
    assert result.price_model_price == D("12599999999.99")  # 12599999999.9874
    assert result.price_per_carat == D("999999999999.00")
    lab = quote(engine, "9999999999.99", lab_grown=True)
    assert lab.price_model_price == D("16499999999.98")  # × 1.65 = 16499999999.9835


@pytest.mark.parametrize(
    ("feed_price", "lab_grown", "price"),
    [
        ("0.01", False, "0.01"),  # × 1.46 = 0.0146
        ("0.01", True, "0.02"),  # × 1.85 = 0.0185
        ("0.00", True, "0.00"),
        ("0.03", False, "0.04"),  # × 1.46 = 0.0438
    ],
)
def test_tiny_prices_round_to_cents(feed_price: str, lab_grown: bool, price: str) -> None:
    result = quote(PricingEngine.build(default_rules()), feed_price, lab_grown=lab_grown)
    assert result.price_model_price == D(price)
    assert result.matched_rule_id is not None


@pytest.mark.parametrize(
    ("feed_price", "carats", "per_carat"),
    [
        ("1000.00", "1.50", "666.67"),
        ("1.01", "2.00", "0.51"),  # 0.505 rounds up
        ("1000.00", "3.00", "333.33"),
        ("1000.00", None, "0.00"),
        ("1000.00", "0", "0.00"),
        ("1000.00", "0.00", "0.00"),
        ("0.00", "1.00", "0.00"),
    ],
)
def test_price_per_carat_is_cost_over_carats_in_cents(
    feed_price: str, carats: str | None, per_carat: str
) -> None:
    value = price_per_carat_for(D(feed_price), None if carats is None else D(carats))
    assert value == D(per_carat)
    assert value.as_tuple().exponent == -2
    via_engine = quote(PricingEngine.build([]), feed_price, carats=carats)
    assert via_engine.price_per_carat == value


@pytest.mark.parametrize(
    ("modifier", "stone_type", "valid"),
    [
        ("0", None, True),
        ("820.99", "lab", True),  # 899.99 → 9.9999
        ("821", "lab", False),  # 900 → 10.0000 does not fit numeric(5,4)
        ("821", "natural", True),  # 861 → 9.6100
        ("821", None, False),  # would break lab stones
        ("-139.99", "natural", True),  # -99.99 → 0.0001
        ("-140", "natural", False),  # -100 → 0
        ("-140", "lab", True),  # -61 → 0.3900
        ("-140", None, False),
        ("-178.99", "lab", True),
        ("-179", "lab", False),
    ],
)
def test_modifier_keeps_ratio_valid_checks_every_matchable_stone_type(
    modifier: str, stone_type: str | None, valid: bool
) -> None:
    kind = StoneType(stone_type) if stone_type else None
    assert modifier_keeps_ratio_valid(D(modifier), kind, BaseMargins()) is valid


# --- serialisation of a frozen rule set -------------------------------------------------------


def test_rules_and_base_margins_round_trip_through_json() -> None:
    rules = [*default_rules(), make_rule(1, "2.5", feed="atlas", rating=3)]
    assert [Rule.from_json(rule.to_json()) for rule in rules] == rules
    margins = BaseMargins(natural=D("41.5"), lab=D("80"), fancy=D("39"))
    assert BaseMargins.from_json(margins.to_json()) == margins

"""seed-demo loads a realistic, deterministic inventory priced exactly by the engine."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.catalog.demo import DEFAULT_FEEDS
from diamond_pricing.catalog.seeding import SeedError, seed_demo
from diamond_pricing.pricing.engine import PricingEngine
from diamond_pricing.pricing.rules import base_margins_from, rule_from_row
from tests.support import create_database_from, drop_database, make_settings, with_database

COUNT = 5_000
CONTENT = (
    "feed, supplier_stone_id, shape, carats, color, clarity, cut, polish, symmetry, fluorescence,"
    " lab_grown, fancy_color, fancy_intensity, certificate_lab, certificate_number, image_url,"
    " feed_price, price_model_price, markup_ratio, rating, price_per_carat, availability,"
    " stone_type"
)


def fetch(url: str, query: str) -> list[dict[str, Any]]:
    """All rows of one query."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture(scope="module")
def seeded(pg_server_uri: str, template_db: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A database with COUNT demo diamonds, seeded after adding a feed rule with a rating."""
    name = create_database_from(pg_server_uri, template_db)
    url = with_database(pg_server_uri, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO pricing_rules (priority, feed, margin_modifier, rating)"
            " VALUES (1, 'labcore', 2.5, 9), (15, NULL, 0, 3)"
        )
    written, _ = seed_demo(url, make_settings(url), count=COUNT, show_progress=False)
    assert written == COUNT
    yield url, fetch(url, f"SELECT {CONTENT} FROM diamonds")
    drop_database(pg_server_uri, name)


def test_seed_demo_loads_the_requested_count_and_bumps_each_feed(
    seeded: tuple[str, list[dict[str, Any]]],
) -> None:
    url, rows = seeded
    assert len(rows) == COUNT
    versions = fetch(url, "SELECT feed, version FROM dataset_versions ORDER BY feed")
    assert versions == [{"feed": feed, "version": 1} for feed in sorted(DEFAULT_FEEDS)]


def test_every_demo_row_is_priced_by_the_engine_with_the_current_rules(
    seeded: tuple[str, list[dict[str, Any]]],
) -> None:
    url, rows = seeded
    rules = fetch(url, "SELECT * FROM pricing_rules WHERE active")
    engine = PricingEngine.build(map(rule_from_row, rules), base_margins_from(make_settings(url)))
    mismatches = []
    for row in rows:
        result = engine.price(
            feed=row["feed"],
            feed_price=row["feed_price"],
            carats=row["carats"],
            lab_grown=row["lab_grown"],
            fancy_color=row["fancy_color"],
        )
        priced = (
            result.price_model_price,
            result.markup_ratio,
            result.rating,
            result.price_per_carat,
            result.stone_type.value,
        )
        stored = tuple(
            row[column]
            for column in (
                "price_model_price",
                "markup_ratio",
                "rating",
                "price_per_carat",
                "stone_type",
            )
        )
        if priced != stored:
            mismatches.append((row["supplier_stone_id"], stored, priced))
    assert mismatches == []
    ratings = Counter(row["rating"] for row in rows)
    assert ratings[9] > 0  # the labcore rule won for labcore stones
    assert all(row["rating"] == 9 for row in rows if row["feed"] == "labcore")


def test_demo_inventory_has_realistic_distributions(
    seeded: tuple[str, list[dict[str, Any]]],
) -> None:
    _, rows = seeded
    lab_share = sum(row["lab_grown"] for row in rows) / COUNT
    fancy_share = sum(row["stone_type"] == "fancy" for row in rows) / COUNT
    assert 0.82 <= lab_share <= 0.88
    assert 0.01 <= fancy_share <= 0.06

    feeds = Counter(row["feed"] for row in rows)
    assert set(feeds) == set(DEFAULT_FEEDS)
    assert min(feeds.values()) >= COUNT // len(DEFAULT_FEEDS) - 1

    availability = Counter(row["availability"] for row in rows)
    assert availability["available"] / COUNT >= 0.85
    assert availability["on_hold"] > 0 and availability["sold"] > 0

    shapes = Counter(row["shape"] for row in rows)
    assert shapes.most_common(1)[0][0] == "round"
    assert len(shapes) >= 8
    assert len({row["clarity"] for row in rows}) >= 8
    assert len({row["color"] for row in rows if row["color"]}) >= 8

    carats = [row["carats"] for row in rows]
    assert min(carats) >= Decimal("0.18") and max(carats) <= Decimal("12.00")
    assert Decimal("0.6") <= statistics.median(carats) <= Decimal("1.5")
    assert all(row["color"] is None for row in rows if row["stone_type"] == "fancy")
    assert all(row["fancy_intensity"] for row in rows if row["stone_type"] == "fancy")
    assert len({row["supplier_stone_id"] for row in rows}) == COUNT


@pytest.mark.parametrize("lab_grown", [True, False])
def test_demo_costs_rise_with_carats(
    seeded: tuple[str, list[dict[str, Any]]], lab_grown: bool
) -> None:
    _, rows = seeded
    brackets = [(0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 100.0)]
    medians = []
    for low, high in brackets:
        costs = [
            row["feed_price"]
            for row in rows
            if row["lab_grown"] is lab_grown
            and row["stone_type"] != "fancy"
            and low <= row["carats"] < high
        ]
        assert len(costs) >= 10
        medians.append(statistics.median(costs))
    assert medians == sorted(medians)
    assert medians[-1] > 3 * medians[0]
    if not lab_grown:
        # natural stones: cost per carat rises too (steeply with size)
        assert medians[2] / Decimal("1.4") > medians[1] / Decimal("0.75")


def test_same_seed_gives_the_same_inventory_in_two_databases(
    db_url: str, pg_server_uri: str, template_db: str
) -> None:
    other = create_database_from(pg_server_uri, template_db)
    other_url = with_database(pg_server_uri, other)
    try:
        for url in (db_url, other_url):
            seed_demo(url, make_settings(url), count=800, seed=7, show_progress=False)
        query = f"SELECT {CONTENT} FROM diamonds ORDER BY feed, supplier_stone_id"
        first, second = fetch(db_url, query), fetch(other_url, query)
        assert len(first) == 800
        assert first == second

        seed_demo(db_url, make_settings(db_url), count=800, seed=8, show_progress=False)
        third = fetch(
            db_url, f"SELECT {CONTENT} FROM diamonds WHERE supplier_stone_id LIKE '%-8-%'"
        )
        assert len(third) == 800
        strip = [{k: v for k, v in row.items() if k != "supplier_stone_id"} for row in third]
        assert strip != [
            {k: v for k, v in row.items() if k != "supplier_stone_id"} for row in first
        ]
    finally:
        drop_database(pg_server_uri, other)


def test_loading_the_same_seed_twice_is_refused_and_writes_nothing(db_url: str) -> None:
    settings = make_settings(db_url)
    seed_demo(db_url, settings, count=50, seed=3, feeds=["one"], show_progress=False)
    with pytest.raises(SeedError, match="seed 3 are already loaded"):
        seed_demo(db_url, settings, count=100, seed=3, feeds=["one"], show_progress=False)
    assert fetch(db_url, "SELECT count(*) AS n FROM diamonds") == [{"n": 50}]
    assert fetch(db_url, "SELECT version FROM dataset_versions") == [{"version": 1}]


def test_seed_demo_command_loads_into_database_url(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    cli = Path(sys.executable).with_name("diamond-pricing")
    args: list[str | Path] = [
        cli,
        "seed-demo",
        "--count",
        "1500",
        "--feeds",
        "north",
        "--feeds",
        "south",
    ]
    done = subprocess.run(
        [*args, "--seed", "5"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "loaded 1,500 diamonds" in done.stderr
    counts = fetch(db_url, "SELECT feed, count(*) AS n FROM diamonds GROUP BY feed ORDER BY feed")
    assert counts == [{"feed": "north", "n": 750}, {"feed": "south", "n": 750}]

    again = subprocess.run(
        [*args, "--seed", "5"], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode != 0
    assert "already loaded" in again.stderr
    assert "Traceback" not in again.stderr

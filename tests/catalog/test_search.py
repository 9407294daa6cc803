"""Catalog search over real HTTP: filters, sorts, keyset pagination, validation, one diamond."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.catalog.conftest import SearchEnv
from tests.catalog.helpers import (
    add_rating_rules,
    diamond,
    expected_order,
    fetch_all_pages,
    matches,
    put_diamonds,
)

SPEC_FIELDS = {
    "supplier_stone_id", "shape", "carats", "color", "clarity", "cut", "polish", "symmetry",
    "fluorescence", "lab_grown", "fancy_color", "fancy_intensity", "certificate_lab",
    "certificate_number", "image_url", "feed_price", "availability",
    "id", "feed", "stone_type", "price_model_price", "markup_ratio", "rating",
    "price_per_carat", "created_at", "updated_at",
}  # fmt: skip

FILTERS: list[dict[str, Any]] = [
    {"feed": "beta"},
    {"feed": ["alpha", "gamma"]},
    {"shape": ["oval", "heart"]},
    {"stone_type": "fancy"},
    {"stone_type": ["natural", "lab"]},
    {"lab_grown": "true"},
    {"lab_grown": "false"},
    {"color": "D"},
    {"clarity": ["IF", "SI1"]},
    {"cut": "Very Good"},
    {"carats_min": "1.5"},
    {"carats_max": "0.8"},
    {"carats_min": "1", "carats_max": "2"},
    {"price_min": "2000"},
    {"price_max": "1500.50"},
    {"rating_min": 5},
    {"rating_min": 2},
    {"availability": "sold"},
    {"availability": ["on_hold", "sold"]},
    {"feed": "beta", "shape": "round", "availability": ["available", "on_hold"]},
]


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row["id"]) for row in rows]


@pytest.mark.parametrize(
    "params", FILTERS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items())
)
def test_each_filter_returns_exactly_the_matching_diamonds(
    search_env: SearchEnv, params: dict[str, Any]
) -> None:
    expected = expected_order(
        [r for r in search_env.rows if matches(r, params)], "created_at", descending=True
    )
    assert expected, "the seeded data must contain matches for every filter"
    assert len(expected) < len(search_env.rows)
    got = fetch_all_pages(search_env.client, {**params, "limit": 200})
    assert ids(got) == ids(expected)


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", ["price_model_price", "carats", "created_at", "rating"])
def test_pages_stitched_together_equal_the_full_ordered_result(
    search_env: SearchEnv, sort: str, order: str
) -> None:
    params = {"sort": sort, "order": order, "limit": 7, "availability": ["available", "sold"]}
    expected = expected_order(
        [r for r in search_env.rows if matches(r, params)], sort, descending=order == "desc"
    )
    got = fetch_all_pages(search_env.client, params)
    assert len(set(ids(got))) == len(got)
    assert ids(got) == ids(expected)
    if sort in ("carats", "rating"):  # nulls come last in both directions
        values = [row[sort] for row in got]
        assert None in values and values[-1] is None and values[0] is not None


@pytest.mark.parametrize(
    ("sort", "default_desc"),
    [("created_at", True), ("rating", True), ("price_model_price", False), ("carats", False)],
)
def test_default_order_depends_on_the_sort(
    search_env: SearchEnv, sort: str, default_desc: bool
) -> None:
    implicit = search_env.client.get("/api/v2/diamonds", params={"sort": sort, "limit": 20})
    explicit = search_env.client.get(
        "/api/v2/diamonds",
        params={"sort": sort, "limit": 20, "order": "desc" if default_desc else "asc"},
    )
    assert implicit.json() == explicit.json()
    assert implicit.headers["etag"] == explicit.headers["etag"]


def test_filtered_pagination_with_a_small_page_size(search_env: SearchEnv) -> None:
    params = {"feed": ["beta", "gamma"], "sort": "rating", "order": "asc", "limit": 3}
    expected = expected_order(
        [r for r in search_env.rows if matches(r, params)], "rating", descending=False
    )
    assert ids(fetch_all_pages(search_env.client, params)) == ids(expected)


def test_the_last_page_has_no_next_cursor(search_env: SearchEnv) -> None:
    body = search_env.client.get("/api/v2/diamonds", params={"limit": 200, "feed": "beta"}).json()
    assert body["data"]["next_cursor"] is None
    available = [r for r in search_env.rows if matches(r, {"feed": "beta"})]
    assert len(body["data"]["diamonds"]) == len(available)


def test_diamonds_have_exactly_the_spec_fields_with_decimal_strings(
    search_env: SearchEnv,
) -> None:
    body = search_env.client.get("/api/v2/diamonds", params={"limit": 5}).json()
    assert set(body["data"]) == {"diamonds", "next_cursor"}
    for item in body["data"]["diamonds"]:
        assert set(item) == SPEC_FIELDS
        assert re.fullmatch(r"\d+\.\d{2}", item["price_model_price"])
        assert re.fullmatch(r"\d+\.\d{4}", item["markup_ratio"])
        assert re.fullmatch(r"\d+\.\d{2}", item["feed_price"])
        assert datetime.fromisoformat(item["created_at"]).utcoffset() is not None


def test_one_diamond_by_id(search_env: SearchEnv) -> None:
    row = next(r for r in search_env.rows if r["availability"] == "sold")
    response = search_env.client.get(f"/api/v2/diamonds/{row['id']}")
    assert response.status_code == 200
    item = response.json()["data"]
    assert set(item) == SPEC_FIELDS
    assert item["id"] == str(row["id"])
    assert item["supplier_stone_id"] == row["supplier_stone_id"]
    assert item["price_model_price"] == str(row["price_model_price"])
    assert response.headers["etag"].startswith('"')


def test_unknown_diamond_is_404_and_malformed_id_is_422(search_env: SearchEnv) -> None:
    missing = search_env.client.get(f"/api/v2/diamonds/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    malformed = search_env.client.get("/api/v2/diamonds/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "diamond_id"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("colour=D", "colour"),
        ("page=2", "page"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("sort=cheapest", "sort"),
        ("order=up", "order"),
        ("availability=gone", "availability.0"),
        ("stone_type=moissanite", "stone_type.0"),
        ("lab_grown=maybe", "lab_grown.0"),
        ("carats_min=-1", "carats_min"),
        ("carats_max=abc", "carats_max"),
        ("price_min=NaN", "price_min"),
        ("rating_min=11", "rating_min"),
        ("carats_min=2&carats_max=1", "carats_min"),
        ("price_min=500&price_max=100", "price_min"),
        ("cursor=garbage", "cursor"),
        ("limit=5&limit=6", "limit"),
        ("sort=carats&sort=rating", "sort"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    search_env: SearchEnv, query: str, field: str
) -> None:
    response = search_env.client.get(f"/api/v2/diamonds?{query}")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [d["field"] for d in error["details"]]


def test_a_cursor_only_continues_the_sort_it_came_from(search_env: SearchEnv) -> None:
    page = search_env.client.get("/api/v2/diamonds", params={"sort": "carats", "limit": 2})
    cursor = page.json()["data"]["next_cursor"]
    other_sort = search_env.client.get(
        "/api/v2/diamonds", params={"sort": "rating", "cursor": cursor}
    )
    other_order = search_env.client.get(
        "/api/v2/diamonds", params={"sort": "carats", "order": "desc", "cursor": cursor}
    )
    for response in (other_sort, other_order):
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "cursor"


@pytest.mark.parametrize("sort", ["price_model_price", "created_at", "carats", "rating"])
def test_pagination_is_stable_under_concurrent_inserts(
    client: httpx.Client, db: psycopg.Connection[dict[str, Any]], ingest_key: str, sort: str
) -> None:
    add_rating_rules(db)
    original = [
        diamond(f"S-{i:03d}", feed_price=f"{(i * 37) % 23 * 100 + 50}.00", carats=None if i % 7 == 0 else f"{1 + i % 5}.00", lab_grown=i % 3 != 0)
        for i in range(60)
    ]  # fmt: skip
    assert put_diamonds(client, ingest_key, "stable", original).status_code == 200
    params: dict[str, Any] = {"sort": sort, "limit": 8}
    first_pass = fetch_all_pages(client, params)

    def insert_more(page_no: int) -> None:
        rows = [
            diamond(f"N-{page_no}-{j}", feed_price=f"{j * 900 + 10}.00", lab_grown=j % 2 == 0)
            for j in range(4)
        ]
        assert put_diamonds(client, ingest_key, "stable", rows).status_code == 200

    got = fetch_all_pages(client, params, between=insert_more)
    got_ids = ids(got)
    assert len(set(got_ids)) == len(got_ids), "a diamond was served twice"
    assert set(ids(first_pass)) <= set(got_ids), "a diamond present all along was skipped"
    descending = sort in ("created_at", "rating")
    typed = [{**row, sort: None if row[sort] is None else _typed(sort, row[sort])} for row in got]
    assert ids(expected_order(typed, sort, descending)) == got_ids


def _typed(sort: str, value: Any) -> Any:
    from decimal import Decimal

    if sort == "created_at":
        return datetime.fromisoformat(value)
    if sort == "rating":
        return int(value)
    return Decimal(value)

"""Feed ingest over real HTTP: priced on arrival, atomic, every bad row reported, one bump."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.auth.keys import Role
from diamond_pricing.catalog.versions import VERSION_CHANNEL
from tests.catalog.conftest import SharedEnv
from tests.catalog.helpers import add_rating_rules, diamond, engine_of, put_diamonds

Conn = psycopg.Connection[dict[str, Any]]


def stored(db: Conn, feed: str) -> dict[str, dict[str, Any]]:
    rows = db.execute("SELECT * FROM diamonds WHERE feed = %s", (feed,)).fetchall()
    return {row["supplier_stone_id"]: row for row in rows}


def version(db: Conn, feed: str) -> int:
    row = db.execute("SELECT version FROM dataset_versions WHERE feed = %s", (feed,)).fetchone()
    return int(row["version"]) if row else 0


def assert_priced_by_engine(db_url: str, feed: str, rows: dict[str, dict[str, Any]]) -> None:
    engine = engine_of(db_url)
    for row in rows.values():
        result = engine.price(
            feed=feed,
            feed_price=row["feed_price"],
            carats=row["carats"],
            lab_grown=row["lab_grown"],
            fancy_color=row["fancy_color"],
        )
        assert row["price_model_price"] == result.price_model_price
        assert row["markup_ratio"] == result.markup_ratio
        assert row["rating"] == result.rating
        assert row["price_per_carat"] == result.price_per_carat
        assert row["stone_type"] == result.stone_type.value


def test_ingest_prices_every_diamond_with_the_engine(
    client: httpx.Client, db: Conn, db_url: str, ingest_key: str
) -> None:
    add_rating_rules(db)
    rows = [
        diamond("N-1", lab_grown=False, feed_price="4999.99", carats="1.50"),
        diamond("L-1", lab_grown=True, feed_price=250, carats=None),
        diamond("L-2", lab_grown=True, feed_price="25000.00", carats="3.00"),
        diamond("F-1", lab_grown=False, fancy_color="Yellow", feed_price="999.99"),
        diamond("Z-1", lab_grown=True, feed_price="0.00", availability="sold"),
    ]
    response = put_diamonds(client, ingest_key, "beta", rows)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data == {
        "feed": "beta",
        "received": 5,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "version": 1,
    }
    saved = stored(db, "beta")
    assert set(saved) == {"N-1", "L-1", "L-2", "F-1", "Z-1"}
    assert_priced_by_engine(db_url, "beta", saved)
    assert saved["N-1"]["rating"] == 7 and saved["L-1"]["rating"] == 3
    assert saved["L-1"]["price_per_carat"] == Decimal("0.00")
    assert saved["Z-1"]["availability"] == "sold"


def test_updating_a_stone_reprices_it_and_unchanged_stones_are_left_alone(
    client: httpx.Client, db: Conn, db_url: str, ingest_key: str
) -> None:
    put_diamonds(client, ingest_key, "acme", [diamond("A"), diamond("B")])
    before = stored(db, "acme")
    response = put_diamonds(
        client,
        ingest_key,
        "acme",
        [diamond("A", feed_price="7000.00", shape="oval"), diamond("B"), diamond("C")],
    )
    data = response.json()["data"]
    assert (data["inserted"], data["updated"], data["unchanged"]) == (1, 1, 1)
    after = stored(db, "acme")
    assert after["A"]["feed_price"] == Decimal("7000.00") and after["A"]["shape"] == "oval"
    assert after["A"]["price_model_price"] != before["A"]["price_model_price"]
    assert after["A"]["updated_at"] > before["A"]["updated_at"]
    assert after["B"]["updated_at"] == before["B"]["updated_at"]
    assert after["A"]["id"] == before["A"]["id"]
    assert_priced_by_engine(db_url, "acme", after)


def test_resending_a_stone_after_a_rule_change_reprices_it(
    client: httpx.Client, db: Conn, db_url: str, ingest_key: str
) -> None:
    put_diamonds(client, ingest_key, "acme", [diamond("A", lab_grown=False)])
    add_rating_rules(db)
    data = put_diamonds(client, ingest_key, "acme", [diamond("A", lab_grown=False)]).json()
    assert data["data"]["updated"] == 1
    saved = stored(db, "acme")
    assert saved["A"]["rating"] == 7
    assert_priced_by_engine(db_url, "acme", saved)


def test_a_call_that_changes_nothing_does_not_bump_the_version(
    client: httpx.Client, db: Conn, ingest_key: str
) -> None:
    put_diamonds(client, ingest_key, "acme", [diamond("A")])
    data = put_diamonds(client, ingest_key, "acme", [diamond("A")]).json()["data"]
    assert (data["unchanged"], data["version"]) == (1, 1)
    assert version(db, "acme") == 1


def test_each_call_bumps_its_feed_version_exactly_once_with_one_notification(
    client: httpx.Client, db_url: str, db: Conn, ingest_key: str
) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {VERSION_CHANNEL}")
        for call in range(1, 4):
            rows = [diamond(f"S-{call}-{i}") for i in range(50)]
            data = put_diamonds(client, ingest_key, "acme", rows).json()["data"]
            assert data["version"] == call
            notes = list(listener.notifies(timeout=0.3))
            assert [json.loads(n.payload) for n in notes] == [{"feed": "acme", "version": call}]
    assert version(db, "acme") == 3
    assert version(db, "other") == 0


def too_many() -> dict[str, Any]:
    return {"diamonds": [diamond(f"X-{i}") for i in range(5001)]}


BAD_PAYLOADS: list[tuple[str, Callable[[], dict[str, Any]], list[tuple[int | None, str]]]] = [
    (
        "wrong types",
        lambda: {
            "diamonds": [
                diamond("A"),
                diamond("B", carats="heavy", lab_grown="perhaps"),
                diamond("C", shape=12),
            ]
        },
        [(1, "carats"), (1, "lab_grown"), (2, "shape")],
    ),
    (
        "missing fields",
        lambda: {
            "diamonds": [
                {"supplier_stone_id": "A", "lab_grown": True},
                {"feed_price": "10.00", "lab_grown": True},
            ]
        },
        [(0, "feed_price"), (1, "supplier_stone_id")],
    ),
    (
        "negative cost and too many decimals",
        lambda: {"diamonds": [diamond("A", feed_price="-1.00"), diamond("B", feed_price="1.001")]},
        [(0, "feed_price"), (1, "feed_price")],
    ),
    (
        "unknown availability",
        lambda: {"diamonds": [diamond("A"), diamond("B", availability="reserved")]},
        [(1, "availability")],
    ),
    (
        "duplicate ids in one call",
        lambda: {"diamonds": [diamond("A"), diamond("B"), diamond("A", feed_price="5.00")]},
        [(2, "supplier_stone_id")],
    ),
    (
        "pricing outputs sent",
        lambda: {
            "diamonds": [
                diamond("A", price_model_price="100.00"),
                diamond("B", markup_ratio="1.5", rating=3, price_per_carat="10.00"),
            ]
        },
        [(0, "price_model_price"), (1, "markup_ratio"), (1, "rating"), (1, "price_per_carat")],
    ),
    (
        "a row that is not an object",
        lambda: {"diamonds": [diamond("A"), "B"]},
        [(1, "row")],
    ),
    ("5,001 rows", too_many, [(None, "diamonds")]),
    ("no diamonds key", lambda: {"stones": []}, [(None, "diamonds")]),
]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(p, e) for _, p, e in BAD_PAYLOADS],
    ids=[name for name, _, _ in BAD_PAYLOADS],
)
def test_bad_payloads_are_422_listing_every_bad_row_and_write_nothing(
    shared_env: SharedEnv,
    payload: Callable[[], dict[str, Any]],
    expected: list[tuple[int | None, str]],
) -> None:
    response = shared_env.client.put(
        "/api/v2/feeds/rejected/diamonds",
        json=payload(),
        headers={"X-API-Key": shared_env.keys[Role.INGEST]},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    got = sorted(
        ((d.get("index"), d["field"]) for d in error["details"]), key=lambda x: (x[0] or -1, x[1])
    )
    assert got == sorted(expected, key=lambda x: (x[0] or -1, x[1]))
    assert all(d["message"] for d in error["details"])
    with psycopg.connect(shared_env.db_url, row_factory=dict_row) as db:
        assert stored(db, "rejected") == {}
        assert version(db, "rejected") == 0


def test_5000_rows_are_accepted_in_one_call(
    client: httpx.Client, db: Conn, ingest_key: str
) -> None:
    rows = [diamond(f"X-{i:05d}", feed_price=f"{100 + i}.00") for i in range(5000)]
    response = put_diamonds(client, ingest_key, "bulk", rows)
    assert response.status_code == 200
    assert response.json()["data"]["inserted"] == 5000
    assert version(db, "bulk") == 1


def test_a_bad_feed_name_is_422(shared_env: SharedEnv) -> None:
    key = shared_env.keys[Role.INGEST]
    for feed in ("-bad feed", "x" * 101):
        assert put_diamonds(shared_env.client, key, feed, [diamond("A")]).status_code == 422


def test_invalid_json_is_422(shared_env: SharedEnv) -> None:
    response = shared_env.client.put(
        "/api/v2/feeds/rejected/diamonds",
        content=b"{not json",
        headers={"X-API-Key": shared_env.keys[Role.INGEST], "Content-Type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.INGEST, 200), (Role.ADMIN, 200), (Role.READ, 403), (None, 401)],
)
def test_ingest_needs_an_ingest_or_admin_key(
    shared_env: SharedEnv, role: Role | None, status: int
) -> None:
    headers = {} if role is None else {"X-API-Key": shared_env.keys[role]}
    response = shared_env.client.put(
        f"/api/v2/feeds/auth-{role}/diamonds", json={"diamonds": [diamond("A")]}, headers=headers
    )
    assert response.status_code == status


def test_dataset_versions_lists_every_feed(client: httpx.Client, ingest_key: str) -> None:
    put_diamonds(client, ingest_key, "b-feed", [diamond("A")])
    put_diamonds(client, ingest_key, "a-feed", [diamond("A")])
    put_diamonds(client, ingest_key, "a-feed", [diamond("A", feed_price="2.00")])
    versions = client.get("/api/v2/dataset-versions").json()["data"]["versions"]
    assert [(v["feed"], v["version"]) for v in versions] == [("a-feed", 2), ("b-feed", 1)]
    assert all("updated_at" in v for v in versions)


def test_concurrent_ingests_of_overlapping_stones_neither_deadlock_nor_fail(
    server: str, db: Conn, db_url: str, ingest_key: str
) -> None:
    import random
    import threading

    stones = [f"C-{i:04d}" for i in range(400)]
    failures: list[str] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=server, timeout=60) as http:
            for call in range(10):
                # overlapping sets, in random order; later calls both insert and update
                chosen = rng.sample(stones[: 100 + call * 30], 100)
                rows = [diamond(s, feed_price=f"{100 + seed * 10 + call}.00") for s in chosen]
                response = put_diamonds(http, ingest_key, "race", rows)
                if response.status_code != 200:
                    failures.append(response.text)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    saved = stored(db, "race")
    assert_priced_by_engine(db_url, "race", saved)
    assert version(db, "race") >= 10


def test_an_ingest_waiting_on_a_repricing_batch_keeps_its_cost_and_prices_from_it(
    server: str, db: Conn, db_url: str, ingest_key: str
) -> None:
    import threading

    with httpx.Client(base_url=server, timeout=60) as http:
        put_diamonds(http, ingest_key, "jobfeed", [diamond(f"J-{i}") for i in range(20)])
    # A repricing batch (as the reapply job does it): lock rows in id order, compute from the
    # feed_price it read, write the outputs, commit -- while an ingest changes those stones.
    batch = psycopg.connect(db_url)
    rows = batch.execute(
        "SELECT id, feed_price FROM diamonds WHERE feed = 'jobfeed' ORDER BY id FOR UPDATE"
    ).fetchall()
    result: dict[str, httpx.Response] = {}
    new_rows = [diamond(f"J-{i}", feed_price="8000.00") for i in range(20)]
    ingest = threading.Thread(
        target=lambda: result.update(
            r=httpx.put(
                f"{server}/api/v2/feeds/jobfeed/diamonds",
                json={"diamonds": new_rows},
                headers={"X-API-Key": ingest_key},
                timeout=60,
            )
        )
    )
    ingest.start()
    time.sleep(0.3)  # the ingest is now waiting for the batch's row locks
    for diamond_id, feed_price in rows:
        batch.execute(
            "UPDATE diamonds SET price_model_price = %s, markup_ratio = 2 WHERE id = %s",
            (feed_price * 2, diamond_id),
        )
    batch.commit()
    batch.close()
    ingest.join(timeout=30)
    assert result["r"].status_code == 200
    saved = stored(db, "jobfeed")
    assert {row["feed_price"] for row in saved.values()} == {Decimal("8000.00")}
    assert_priced_by_engine(db_url, "jobfeed", saved)

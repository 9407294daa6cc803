"""The catalog cache over real HTTP: hits, invalidation by feed, ETag / 304, staleness, LISTEN."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from diamond_pricing.auth.keys import Role
from diamond_pricing.catalog.refresh import LISTENER_APPLICATION_NAME
from diamond_pricing.catalog.versions import bump_versions
from tests.catalog.helpers import diamond, put_diamonds
from tests.support import make_settings, run_async, running_server

Conn = psycopg.Connection[dict[str, Any]]
SEARCH = "/api/v2/diamonds"


def get(client: httpx.Client, params: Any = None, **headers: str) -> httpx.Response:
    response = client.get(SEARCH, params=params, headers=headers)
    assert response.status_code in (200, 304), response.text
    return response


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.02) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


@pytest.fixture
def two_feeds(client: httpx.Client, ingest_key: str) -> None:
    put_diamonds(client, ingest_key, "fa", [diamond(f"A-{i}") for i in range(5)])
    put_diamonds(client, ingest_key, "fb", [diamond(f"B-{i}") for i in range(5)])


def test_a_repeated_query_is_a_hit_with_the_same_body_and_etag(
    client: httpx.Client, two_feeds: None
) -> None:
    first, second = get(client, {"limit": 3}), get(client, {"limit": 3})
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=30"


def test_parameter_order_and_repeated_values_share_one_entry(
    client: httpx.Client, two_feeds: None
) -> None:
    first = get(client, [("shape", "round"), ("shape", "oval"), ("feed", "fa")])
    again = get(
        client,
        [("feed", "fa"), ("shape", "oval"), ("shape", "round"), ("shape", "oval")],
    )
    with_defaults = get(
        client,
        [
            ("feed", "fa"),
            ("shape", "oval"),
            ("shape", "round"),
            ("availability", "available"),
            ("sort", "created_at"),
            ("order", "desc"),
            ("limit", "50"),
        ],
    )
    assert first.headers["x-cache"] == "MISS"
    assert again.headers["x-cache"] == with_defaults.headers["x-cache"] == "HIT"
    assert first.headers["etag"] == again.headers["etag"] == with_defaults.headers["etag"]


def test_ingest_into_a_feed_invalidates_only_queries_that_can_touch_it(
    client: httpx.Client, ingest_key: str, two_feeds: None
) -> None:
    queries: dict[str, Any] = {
        "all": {},
        "fa": {"feed": "fa"},
        "fb": {"feed": "fb"},
        "fa+fb": [("feed", "fb"), ("feed", "fa")],
    }
    some_b = get(client, {"feed": "fb"}).json()["data"]["diamonds"][0]["id"]
    before = {name: get(client, q) for name, q in queries.items()}
    detail_before = client.get(f"{SEARCH}/{some_b}")
    put_diamonds(client, ingest_key, "fa", [diamond("A-0", feed_price="5555.00")])

    after = {name: get(client, q) for name, q in queries.items()}
    assert after["fb"].headers["x-cache"] == "HIT"
    assert after["fb"].headers["etag"] == before["fb"].headers["etag"]
    for name in ("all", "fa", "fa+fb"):
        assert after[name].headers["x-cache"] == "MISS", name
        assert after[name].headers["etag"] != before[name].headers["etag"]
        prices = {d["feed_price"] for d in after[name].json()["data"]["diamonds"]}
        assert "5555.00" in prices
    # one diamond is keyed by every feed's version: its feed is not known before the lookup
    assert client.get(f"{SEARCH}/{some_b}").headers["etag"] != detail_before.headers["etag"]


def test_if_none_match_yields_304_for_tags_lists_weak_tags_and_star(
    client: httpx.Client, two_feeds: None
) -> None:
    etag = get(client, {"feed": "fa"}).headers["etag"]
    for header in (etag, f'"nope", {etag}', f"W/{etag}", "*", f'W/"x", W/{etag}'):
        response = get(client, {"feed": "fa"}, **{"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"].startswith("public, max-age=")
    assert get(client, {"feed": "fa"}, **{"If-None-Match": '"other"'}).status_code == 200
    assert get(client, {"feed": "fb"}, **{"If-None-Match": etag}).status_code == 200


def test_one_diamond_has_etag_semantics_and_star_does_not_hide_a_404(
    client: httpx.Client, two_feeds: None
) -> None:
    some = get(client).json()["data"]["diamonds"][0]["id"]
    first = client.get(f"{SEARCH}/{some}")
    assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
    assert client.get(f"{SEARCH}/{some}").headers["x-cache"] == "HIT"
    weak = client.get(f"{SEARCH}/{some}", headers={"If-None-Match": f"W/{first.headers['etag']}"})
    assert weak.status_code == 304
    unknown = client.get(
        f"{SEARCH}/00000000-0000-0000-0000-000000000000", headers={"If-None-Match": "*"}
    )
    assert unknown.status_code == 404


def test_max_age_is_never_longer_than_the_poll_interval(db_url: str) -> None:
    settings = make_settings(db_url, cache_poll_seconds=7.5)
    with running_server(settings, db_url) as base:
        response = httpx.get(f"{base}{SEARCH}")
    assert response.headers["cache-control"] == "public, max-age=7"


def test_catalog_reads_can_require_a_read_key(db_url: str, make_key: Callable[..., str]) -> None:
    keys = {role: make_key(role, f"k-{role}") for role in Role}
    settings = make_settings(db_url, catalog_requires_key=True)
    with running_server(settings, db_url) as base, httpx.Client(base_url=base) as http:
        for path in (SEARCH, "/api/v2/dataset-versions"):
            assert http.get(path).status_code == 401
            assert http.get(path, headers={"X-API-Key": keys[Role.INGEST]}).status_code == 403
            assert http.get(path, headers={"X-API-Key": keys[Role.ADMIN]}).status_code == 200
            ok = http.get(path, headers={"X-API-Key": keys[Role.READ]})
            assert ok.status_code == 200
        assert ok.headers.get("cache-control") is None  # dataset-versions is not cached
        search = http.get(SEARCH, headers={"Authorization": f"Bearer {keys[Role.READ]}"})
        assert search.headers["cache-control"].startswith("private, ")


def test_versions_not_refreshed_within_the_staleness_limit_bypass_the_cache(
    db_url: str, ingest_key: str
) -> None:
    settings = make_settings(
        db_url, cache_listen=False, cache_poll_seconds=60, cache_stale_after_seconds=0.5
    )
    with running_server(settings, db_url) as base, httpx.Client(base_url=base) as http:
        put_diamonds(http, ingest_key, "fa", [diamond("A")])
        time.sleep(0.6)  # no poll for 60 s and no LISTEN: the versions are now stale
        first, second = get(http, {"feed": "fa"}), get(http, {"feed": "fa"})
        assert first.headers["x-cache"] == second.headers["x-cache"] == "MISS"
        # ETags still come from the versions, read from the database before the query
        assert first.headers["etag"] == second.headers["etag"]
        assert (
            get(http, {"feed": "fa"}, **{"If-None-Match": first.headers["etag"]}).status_code == 304
        )
        put_diamonds(http, ingest_key, "fa", [diamond("A", feed_price="2.00")])
        changed = get(http, {"feed": "fa"})
        assert changed.headers["etag"] != first.headers["etag"]
        assert changed.json()["data"]["diamonds"][0]["feed_price"] == "2.00"


def test_a_page_whose_query_began_before_a_bump_is_not_served_after_it(
    db_url: str, db: Conn, ingest_key: str
) -> None:
    settings = make_settings(db_url, cache_poll_seconds=60)  # only NOTIFY brings the bump
    with running_server(settings, db_url) as base, httpx.Client(base_url=base) as http:
        put_diamonds(http, ingest_key, "fa", [diamond("A")])
        locker = psycopg.connect(db_url)
        locker.execute("LOCK TABLE diamonds IN ACCESS EXCLUSIVE MODE")
        slow: dict[str, httpx.Response] = {}
        reader = threading.Thread(
            target=lambda: slow.update(r=httpx.get(f"{base}{SEARCH}?feed=fa", timeout=30))
        )
        reader.start()
        waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        wait_for(lambda: db.execute(waiting).fetchone() == {"n": 1}, timeout=10)
        # the miss has read its versions and is blocked in its query: now a bump commits
        run_async(db_url, lambda conn: bump_versions(conn, ["fa"]))
        time.sleep(0.5)  # the server hears the NOTIFY while the page is still being computed
        locker.rollback()
        locker.close()
        reader.join(timeout=30)
        assert slow["r"].headers["x-cache"] == "MISS"
        after = get(http, {"feed": "fa"})
        assert after.headers["x-cache"] == "MISS"
        assert after.headers["etag"] != slow["r"].headers["etag"]
        assert get(http, {"feed": "fa"}).headers["x-cache"] == "HIT"


def test_the_listener_reconnects_after_its_connection_is_killed(
    db_url: str, db: Conn, ingest_key: str
) -> None:
    settings = make_settings(db_url, cache_poll_seconds=60)  # only NOTIFY brings bumps
    listener = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        " AND datname = current_database()"
    )

    def listener_pids() -> list[int]:
        return [r["pid"] for r in db.execute(listener, (LISTENER_APPLICATION_NAME,))]

    with running_server(settings, db_url) as base, httpx.Client(base_url=base) as http:
        wait_for(lambda: len(listener_pids()) == 1, timeout=5)
        (old_pid,) = listener_pids()
        db.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
        wait_for(lambda: listener_pids() not in ([], [old_pid]), timeout=10)
        time.sleep(0.1)  # LISTEN issued right after connecting
        put_diamonds(http, ingest_key, "fa", [diamond("A")])
        etag = get(http, {"feed": "fa"}).headers["etag"]
        assert get(http, {"feed": "fa"}).headers["x-cache"] == "HIT"
        run_async(db_url, lambda conn: bump_versions(conn, ["fa"]))
        seen = wait_for(lambda: get(http, {"feed": "fa"}).headers["etag"] != etag, timeout=2)
        assert seen < 1.0

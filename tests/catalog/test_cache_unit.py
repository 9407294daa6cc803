"""The cache object on its own: staleness with a real clock, version bookkeeping, ETags."""

from __future__ import annotations

import time

from diamond_pricing.catalog.cache import CatalogCache, make_key
from diamond_pricing.catalog.http_cache import parse_if_none_match
from diamond_pricing.catalog.versions import parse_notice


def test_cache_is_stale_until_refreshed_and_again_after_the_limit() -> None:
    cache = CatalogCache(max_entries=10, stale_after_seconds=0.2)
    assert not cache.is_fresh()  # never refreshed: bypass
    cache.apply_snapshot({"a": 1})
    assert cache.is_fresh()
    time.sleep(0.25)
    assert not cache.is_fresh()
    cache.apply_snapshot({"a": 1})
    assert cache.is_fresh()


def test_notifications_alone_do_not_make_the_versions_fresh() -> None:
    cache = CatalogCache(max_entries=10, stale_after_seconds=0.2)
    cache.note_version("a", 3)
    assert not cache.is_fresh()
    assert cache.versions == {"a": 3}


def test_versions_only_move_forward() -> None:
    cache = CatalogCache(max_entries=10, stale_after_seconds=60)
    cache.apply_snapshot({"a": 2, "b": 1})
    cache.note_version("a", 5)
    cache.note_version("a", 4)  # late or duplicate notification
    cache.apply_snapshot({"a": 4, "b": 1})  # a poll that raced the notification
    assert cache.versions == {"a": 5, "b": 1}


def test_two_polls_in_a_row_below_the_known_version_reset_it_and_clear_the_cache() -> None:
    cache = CatalogCache(max_entries=10, stale_after_seconds=60)
    cache.apply_snapshot({"a": 9})
    key = make_key("search", "q", cache.token(None))
    cache.put(key, b"old")
    cache.apply_snapshot({"a": 2})
    assert cache.versions == {"a": 9} and cache.get(key) == b"old"
    cache.apply_snapshot({"a": 2})  # the database was restored: believe it
    assert cache.versions == {"a": 2}
    assert cache.get(key) is None


def test_tokens_cover_the_feeds_a_query_can_touch() -> None:
    cache = CatalogCache(max_entries=10, stale_after_seconds=60)
    cache.apply_snapshot({"a": 1, "b": 7})
    everything, only_a, only_new = cache.token(None), cache.token(["a"]), cache.token(["new"])
    cache.note_version("b", 8)
    assert cache.token(["a"]) == only_a
    assert cache.token(None) != everything
    cache.note_version("new", 1)
    assert cache.token(["new"]) != only_new
    assert cache.token(["b", "a", "a"]) == cache.token(["a", "b"])


def test_keys_and_etags_are_deterministic_and_depend_on_query_and_versions() -> None:
    first = make_key("search", "q", "a=1")
    assert first == make_key("search", "q", "a=1")
    assert first.etag.startswith('"') and first.etag.endswith('"')
    others = {make_key("search", "q", "a=2").etag, make_key("search", "r", "a=1").etag}
    others.add(make_key("diamond", "q", "a=1").etag)
    assert first.etag not in others and len(others) == 3


def test_the_lru_keeps_at_most_max_entries() -> None:
    cache = CatalogCache(max_entries=2, stale_after_seconds=60)
    keys = [make_key("search", str(i), "") for i in range(3)]
    for key in keys:
        cache.put(key, b"x")
    assert cache.get(keys[0]) is None and cache.get(keys[2]) == b"x"
    assert cache.stats()["entries"] == 2


def test_if_none_match_parsing() -> None:
    assert parse_if_none_match('"a"') == (False, {'"a"'})
    assert parse_if_none_match('W/"a", "b" ,w/"c"') == (False, {'"a"', '"b"', '"c"'})
    assert parse_if_none_match("*") == (True, set())
    assert parse_if_none_match(" , ") == (False, set())


def test_notification_payloads_are_parsed_strictly() -> None:
    assert parse_notice('{"feed": "a", "version": 3}') is not None
    for bad in (
        "",
        "nope",
        "[]",
        '{"feed": "a"}',
        '{"feed": 1, "version": 2}',
        '{"feed": "a", "version": true}',
    ):
        assert parse_notice(bad) is None

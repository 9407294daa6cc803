"""Catalog benchmark: cached search vs a bare endpoint, uncached search latency, import rate.

``run(conninfo, count=N)`` seeds N demo diamonds into the (migrated, empty) database, serves it
with a real ``diamond-pricing serve`` process and measures over real loopback HTTP:

- cached search hits/s against /healthz of the same process, same client, same run (goal ≥ 0.8×);
- uncached search latency p50/p99 per sort (each request a distinct query, so a MISS);
- ``diamond-pricing import`` of an N-row CSV (rows/s), then re-importing it unchanged;
- the ingest API with 5,000-row calls (rows/s).

Standalone: ``python -m bench.catalog_bench --count 200000`` (DATABASE_URL's server, or an
embedded one under .bench-data/; the database ``bench_catalog`` is recreated).
"""

from __future__ import annotations

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from diamond_pricing.catalog.demo import COPY_COLUMNS, DemoOptions, generate_rows
from diamond_pricing.catalog.queries import UPSERT_COLUMNS
from diamond_pricing.catalog.seeding import seed_demo
from diamond_pricing.migrate import migrate
from diamond_pricing.pricing.engine import PricingEngine
from diamond_pricing.settings import Settings

CLI = str(Path(sys.executable).parent / "diamond-pricing")
INPUT_COLUMNS = UPSERT_COLUMNS[: UPSERT_COLUMNS.index("availability") + 1]
HOT_QUERY = {"shape": "round", "lab_grown": "true", "sort": "price_model_price", "limit": "50"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(conninfo: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": conninfo,
        "DIAMOND_RUN_JOBS": "false",
        "DIAMOND_MIGRATE_ON_START": "false",
    }
    process = subprocess.Popen(
        [CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def _rate(client: httpx.Client, path: str, params: dict[str, str], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        response = client.get(path, params=params)
        assert response.status_code == 200
    return n / (time.perf_counter() - started)


def _cached_vs_bare(client: httpx.Client, rounds: int = 5, n: int = 400) -> list[dict[str, Any]]:
    first = client.get("/api/v2/diamonds", params=HOT_QUERY)
    again = client.get("/api/v2/diamonds", params=HOT_QUERY)
    assert again.headers["x-cache"] == "HIT", "the hot query must be cached"
    bare, cached = [], []
    _rate(client, "/healthz", {}, n // 4)  # warm-up
    for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
        bare.append(_rate(client, "/healthz", {}, n))
        cached.append(_rate(client, "/api/v2/diamonds", HOT_QUERY, n))
    bare_rate, cached_rate = statistics.median(bare), statistics.median(cached)
    return [
        {"name": "bare /healthz requests/s", "value": round(bare_rate), "unit": "req/s"},
        {
            "name": "cached search hits/s",
            "value": round(cached_rate),
            "unit": "req/s",
            "ratio": cached_rate / bare_rate,
            "goal": "≥ 0.8× /healthz",
            "note": f"{len(first.content) // 1024} KiB page, 1 client, keep-alive",
        },
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _uncached(client: httpx.Client, samples: int) -> list[dict[str, Any]]:
    cases: dict[str, Callable[[int], dict[str, str]]] = {
        "default (newest first)": lambda i: {"price_min": f"0.{i:04d}"},
        "sort=price_model_price": lambda i: {
            "sort": "price_model_price",
            "price_min": f"0.{i:04d}",
        },
        "sort=price desc, feed=atlas": lambda i: {
            "sort": "price_model_price",
            "order": "desc",
            "feed": "atlas",
            "price_min": f"0.{i:04d}",
        },
        "sort=carats desc": lambda i: {
            "sort": "carats",
            "order": "desc",
            "price_min": f"0.{i:04d}",
        },
        "sort=rating": lambda i: {"sort": "rating", "price_min": f"0.{i:04d}"},
        "round lab 1-2 ct by price": lambda i: {
            "shape": "round",
            "lab_grown": "true",
            "carats_min": "1",
            "carats_max": f"2.{i:04d}",
            "sort": "price_model_price",
        },
    }
    rows = []
    for name, make in cases.items():
        timings = []
        for i in range(samples):
            started = time.perf_counter()
            response = client.get("/api/v2/diamonds", params=make(i))
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
        rows.append(
            {
                "name": f"uncached search p50, {name}",
                "value": round(statistics.median(timings), 1),
                "unit": "ms",
            }
        )
        rows.append(
            {
                "name": f"uncached search p99, {name}",
                "value": round(_percentile(timings, 0.99), 1),
                "unit": "ms",
                "note": f"{samples} distinct queries",
            }
        )
    return rows


def _write_csv(path: Path, count: int, engine: PricingEngine, feed: str) -> None:
    index = {name: i for i, name in enumerate(COPY_COLUMNS)}
    options = DemoOptions(count=count, feeds=(feed,), seed=99)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(INPUT_COLUMNS)
        for row in generate_rows(options, engine):
            values = [row[index[name]] for name in INPUT_COLUMNS]
            writer.writerow(
                ["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in values]
            )


def _import(conninfo: str, path: Path, feed: str) -> float:
    env = {**os.environ, "DATABASE_URL": conninfo}
    started = time.perf_counter()
    result = subprocess.run(
        [CLI, "import", str(path), "--feed", feed], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return time.perf_counter() - started


def _ingest_api(client: httpx.Client, key: str, count: int) -> dict[str, Any]:
    calls = max(1, min(20, count // 5000))
    payloads = [
        {
            "diamonds": [
                {
                    "supplier_stone_id": f"API-{c:03d}-{i:04d}",
                    "shape": "round",
                    "carats": "1.01",
                    "color": "G",
                    "clarity": "VS1",
                    "lab_grown": i % 5 != 0,
                    "feed_price": f"{500 + (i * 37) % 9000}.00",
                }
                for i in range(5000)
            ]
        }
        for c in range(calls)
    ]
    started = time.perf_counter()
    for payload in payloads:
        response = client.put(
            "/api/v2/feeds/api-feed/diamonds", json=payload, headers={"X-API-Key": key}
        )
        assert response.status_code == 200, response.text
    seconds = time.perf_counter() - started
    return {
        "name": "ingest API (5,000 rows per call)",
        "value": round(calls * 5000 / seconds),
        "unit": "rows/s",
        "note": f"{calls} calls, new stones, priced + upserted + version bump each",
    }


def run(conninfo: str, *, count: int) -> list[dict[str, Any]]:
    """Seed ``count`` diamonds into ``conninfo``'s database and measure the catalog."""
    from diamond_pricing.auth.keys import Role, create_key
    from diamond_pricing.pricing.rules import load_engine
    from diamond_pricing.runtime import run_with_conn

    migrate(conninfo)
    settings = Settings(database_url=conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # give half of the default rules a rating, so rating sorts have values and nulls
        conn.execute("UPDATE pricing_rules SET rating = 1 + priority % 10 WHERE priority % 2 = 0")
    written, seed_seconds = seed_demo(conninfo, settings, count=count, show_progress=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE diamonds")
    rows: list[dict[str, Any]] = [
        {"name": "demo seed (COPY)", "value": round(written / seed_seconds), "unit": "rows/s"}
    ]
    _, key = run_with_conn(conninfo, lambda c: create_key(c, name="bench", role=Role.INGEST))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        process, url = _start_server(conninfo, log)
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                rows += _cached_vs_bare(client)
                rows += _uncached(client, samples=60 if count <= 300_000 else 40)
                rows.append(_ingest_api(client, key, count))
        finally:
            process.terminate()
            process.wait(timeout=30)
        engine = run_with_conn(conninfo, lambda c: load_engine(c, settings))
        path = Path(tmp) / "import.csv"
        _write_csv(path, count, engine, "bench-import")
        seconds = _import(conninfo, path, "bench-import")
        rows.append(
            {
                "name": "import CSV (new stones)",
                "value": round(count / seconds),
                "unit": "rows/s",
                "note": f"{count:,} rows in {seconds:.1f} s, {path.stat().st_size >> 20} MiB",
            }
        )
        seconds = _import(conninfo, path, "bench-import")
        rows.append(
            {
                "name": "import CSV again (all unchanged)",
                "value": round(count / seconds),
                "unit": "rows/s",
                "note": "validate + price + COPY + lock + compare, nothing written",
            }
        )
    return rows


def _database(name: str) -> tuple[str, Any]:
    embedded = None
    server_uri = os.environ.get("DATABASE_URL")
    if not server_uri:
        from diamond_pricing.db import start_embedded

        embedded = start_embedded(Path(".bench-data"))
        server_uri = embedded.conninfo
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(server_uri, dbname=name), embedded


def main() -> None:
    """Run standalone and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    conninfo, embedded = _database("bench_catalog")
    try:
        for row in run(conninfo, count=args.count):
            ratio = f"  ({row['ratio']:.2f}×)" if row.get("ratio") else ""
            note = f"  [{row['note']}]" if row.get("note") else ""
            print(f"{row['name']:<50} {row['value']:>10} {row.get('unit', '')}{ratio}{note}")
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()

"""``make bench``: every benchmark in one run, printed as one table and saved as JSON.

Usage: python -m bench [--count N] [--only reapply|catalog] [--output bench/results.json]

Each suite gets a fresh database on the same server (the embedded one under .bench-data/, or
DATABASE_URL's server), seeded with the synthetic inventory of N diamonds (default 1,000,000).
Ratios compare figures measured in the same run, so they are worth more than absolute numbers
on a shared machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from diamond_pricing.db import start_embedded
from diamond_pricing.migrate import migrate

SUITES = {"reapply": "bench.reapply_bench", "catalog": "bench.catalog_bench"}
console = Console(width=None if sys.stdout.isatty() else 160)


def fresh_database(server_uri: str, name: str) -> str:
    """Drop and recreate a database named ``name``, migrate it, and return its URI."""
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(server_uri)
    info["dbname"] = name
    uri = psycopg.conninfo.make_conninfo(**info)
    migrate(uri)
    return uri


def main() -> int:
    """Run the suites and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=int(os.environ.get("BENCH_COUNT", 1_000_000)))
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    parser.add_argument("--output", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()

    embedded = None
    server_uri = os.environ.get("DATABASE_URL")
    if not server_uri:
        embedded = start_embedded(Path(".bench-data"))
        server_uri = embedded.conninfo
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for suite in args.only or list(SUITES):
            module = importlib.import_module(SUITES[suite])
            console.print(f"[bold]{suite}[/bold]: {args.count:,} diamonds …")
            uri = fresh_database(server_uri, f"bench_{suite}")
            for row in module.run(uri, count=args.count):
                rows.append({"suite": suite, **row})
                console.print(f"  {row['name']}: {row['value']} {row.get('unit', '')}")
    finally:
        if embedded is not None:
            embedded.stop()

    table = Table(
        title=f"Benchmarks at {args.count:,} diamonds ({time.perf_counter() - started:.0f} s)"
    )
    for column in ("suite", "measure", "value", "unit", "ratio", "goal", "note"):
        table.add_column(column, justify="right" if column in {"value", "ratio"} else "left")
    for row in rows:
        ratio = row.get("ratio")
        table.add_row(
            row["suite"],
            row["name"],
            _fmt(row["value"]),
            row.get("unit", ""),
            "" if ratio is None else f"{ratio:.2f}",
            row.get("goal", ""),
            row.get("note", ""),
        )
    console.print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "count": args.count,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "platform": platform.platform(),
                },
                "results": rows,
            },
            indent=2,
            default=str,
        )
    )
    console.print(f"results written to {args.output}")
    return 0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())

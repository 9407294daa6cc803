"""Loading the demo inventory: engine from the current rules, COPY, version bump."""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg

from diamond_pricing.catalog.demo import DEFAULT_FEEDS, DemoOptions, load_demo
from diamond_pricing.catalog.versions import bump_versions
from diamond_pricing.db import DictConn
from diamond_pricing.pricing.rules import load_engine
from diamond_pricing.runtime import progress_bar, run_with_conn
from diamond_pricing.settings import Settings


class SeedError(RuntimeError):
    """The demo inventory could not be loaded; the message says why and what to do."""


def seed_demo(
    conninfo: str,
    settings: Settings,
    *,
    count: int,
    feeds: Sequence[str] | None = None,
    seed: int = 42,
    show_progress: bool = True,
) -> tuple[int, float]:
    """Load ``count`` demo diamonds in one transaction; return (rows, seconds)."""
    options = DemoOptions(count=count, feeds=tuple(feeds or DEFAULT_FEEDS), seed=seed)
    if not all(feed.strip() for feed in options.feeds):
        raise SeedError("feed names must not be empty")
    started = time.perf_counter()

    async def work(conn: DictConn) -> int:
        engine = await load_engine(conn, settings)
        if not show_progress:
            written = await load_demo(conn, options, engine)
        else:
            with progress_bar() as bar:
                task = bar.add_task("seeding diamonds", total=count, rate="")

                def advance(step: int) -> None:
                    elapsed = time.perf_counter() - started
                    done = bar.tasks[task].completed + step
                    bar.update(task, advance=step, rate=f"{done / max(elapsed, 1e-9):,.0f} rows/s")

                written = await load_demo(conn, options, engine, on_progress=advance)
        await bump_versions(conn, options.feeds)
        return written

    try:
        written = run_with_conn(conninfo, work)
    except psycopg.errors.UniqueViolation as exc:
        raise SeedError(
            f"demo diamonds of seed {seed} are already loaded in feed(s) "
            f"{', '.join(options.feeds)}; nothing was written (use another --seed or --feeds)"
        ) from exc
    return written, time.perf_counter() - started

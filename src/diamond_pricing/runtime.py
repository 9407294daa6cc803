"""Helpers for commands that run outside the server: one-off connections and progress bars."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import psycopg
from psycopg.rows import dict_row
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from diamond_pricing.db import DictConn

T = TypeVar("T")
stderr = Console(stderr=True)


def run_with_conn(conninfo: str, work: Callable[[DictConn], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on a fresh async connection."""

    async def main() -> T:
        conn = await psycopg.AsyncConnection.connect(conninfo, row_factory=dict_row)
        async with conn, conn.transaction():
            return await work(conn)

    return asyncio.run(main())


def progress_bar() -> Progress:
    """A progress bar on stderr (fields: ``rate``)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=stderr,
    )

"""Fixtures of the fault suite: service processes, lock holders, an in-process runner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row

from diamond_pricing.reapply.runner import Runner
from diamond_pricing.settings import Settings
from tests.faults.procs import Procs
from tests.reapply.conftest import job_row

DB = psycopg.Connection[dict[str, Any]]


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Start ``diamond-pricing`` processes; whatever is still running is killed at the end."""
    started = Procs(tmp_path)
    try:
        yield started
    finally:
        started.close()


@contextmanager
def holding(db_url: str) -> Iterator[DB]:
    """A session with an open transaction, to take locks that others must wait for."""
    conn = psycopg.connect(db_url, row_factory=dict_row)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a figure to the terminal even when output is captured (``make test`` shows it)."""

    def emit(line: str) -> None:
        with capsys.disabled():
            print(f"\n[faults] {line}", end="")

    return emit


def run_here(db_url: str, settings: Settings, db: DB, job_id: UUID, timeout: float = 60) -> None:
    """Run a runner in this process until the job stops (setup for tests that need a done job)."""

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Runner(db_url, settings).run(stop))
        deadline = time.monotonic() + timeout
        try:
            while job_row(db, job_id)["status"] in ("pending", "running"):
                if time.monotonic() > deadline or task.done():
                    raise AssertionError(f"job {job_id} did not stop: {job_row(db, job_id)}")
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task

    asyncio.run(main())

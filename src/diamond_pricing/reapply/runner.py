"""The job runner: claims jobs with a lease and runs them batch by batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def runner_service(app: FastAPI) -> AsyncIterator[None]:
    """Run this process's job runner while the app is up."""
    yield

"""The catalog read cache: versions, LISTEN/poll refresh, LRU of serialized responses, ETags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def cache_service(app: FastAPI) -> AsyncIterator[None]:
    """Run the version listener/poller for this process's catalog cache."""
    yield

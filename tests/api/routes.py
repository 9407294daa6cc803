"""The routes an app really serves (FastAPI ≥ 0.16x includes routers lazily)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute

from diamond_pricing.app import create_app
from tests.support import make_settings


def build_app() -> FastAPI:
    """The application as served, without starting it (no database is touched)."""
    return create_app(make_settings("postgresql:///unused"), "postgresql:///unused")


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every FastAPI route of the app, HEAD/OPTIONS excluded."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI flattens included routers itself
        contexts: list[tuple[str, APIRoute]] = [
            (route.path, route) for route in app.routes if isinstance(route, APIRoute)
        ]
    else:
        contexts = [
            (str(ctx.path), ctx.original_route)
            for ctx in iter_route_contexts(app.routes)
            if isinstance(ctx.original_route, APIRoute)
        ]
    for path, route in contexts:
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, path, route

"""The FastAPI application factory: lifespan opens the pool and starts background services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi

from diamond_pricing import __version__
from diamond_pricing.dashboard.views import install_dashboard
from diamond_pricing.db import open_pool
from diamond_pricing.errors import (
    ErrorResponse,
    error_json,
    error_responses,
    install_error_handlers,
    install_request_id,
)
from diamond_pricing.guards import RequestGuard
from diamond_pricing.metrics import install_metrics
from diamond_pricing.migrate import migrate
from diamond_pricing.reapply.metrics import job_metrics
from diamond_pricing.settings import Settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v2"

# A background service is started with the app and stopped with it: (app) -> async context.
BackgroundService = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def background_services(settings: Settings) -> list[BackgroundService]:
    """The services every server process runs beside the API (cache listener, job runner)."""
    from diamond_pricing.catalog.cache import cache_service
    from diamond_pricing.reapply.runner import runner_service

    services: list[BackgroundService] = [cache_service]
    if settings.run_jobs:
        services.append(runner_service)
    return services


def include_routers(app: FastAPI) -> None:
    """Mount every domain's routes."""
    from diamond_pricing.catalog.api import router as catalog_router
    from diamond_pricing.pricing.api import router as pricing_router
    from diamond_pricing.reapply.api import router as reapply_router

    for router in (pricing_router, reapply_router, catalog_router):
        app.include_router(router, prefix=API_PREFIX)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate, open the pool, run background services; undo it all on shutdown."""
    settings: Settings = app.state.settings
    conninfo: str = app.state.conninfo
    if settings.migrate_on_start:
        await asyncio.to_thread(migrate, conninfo)
    pool = open_pool(conninfo, settings)
    await pool.open(wait=True, timeout=30)
    app.state.pool = pool
    try:
        async with AsyncExitStack() as stack:
            for service in background_services(settings):
                await stack.enter_async_context(service(app))
            yield
    finally:
        await pool.close()


def create_app(settings: Settings, conninfo: str) -> FastAPI:
    """Build the application for one database."""
    app = FastAPI(
        title="Diamond pricing service",
        version=__version__,
        summary="Pricing rules, a cached catalog API and the reapply-pricing job.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.conninfo = conninfo
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    install_request_id(app)
    install_error_handlers(app)
    install_metrics(app, job_stats=[job_metrics])

    @app.get("/healthz", tags=["health"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: the database answers",
        responses={503: {"model": ErrorResponse, "description": "Database unavailable"}},
    )
    async def readyz(request: Request) -> Any:
        try:
            async with request.app.state.pool.connection() as conn:  # pool_timeout_seconds
                await conn.execute("SELECT 1")
        except Exception as exc:  # any failure means not ready
            log.warning("readiness check failed: %s", exc)
            return error_json(503, "database_unavailable", "the database is not reachable")
        return {"status": "ready"}

    include_routers(app)
    install_dashboard(app)
    install_openapi(app)
    return app


def document_guards(path: str, operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """The statuses ``guards.RequestGuard`` can answer before the route runs."""
    errors = error_responses(413, 415, 422)
    if "requestBody" in operation:
        for status in (413, 415):
            responses.setdefault(str(status), {"description": errors[status]["description"]})
    if path.startswith(API_PREFIX):  # NUL in a query parameter or the path
        responses.setdefault("422", {"description": errors[422]["description"]})


def install_openapi(app: FastAPI) -> None:
    """Describe every error with our error shape (FastAPI's default 422 schema is not ours)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
        if "ErrorResponse" not in components:
            components["ErrorResponse"] = ErrorResponse.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, sub in components["ErrorResponse"].pop("$defs", {}).items():
                components.setdefault(name, sub)
        for path, path_item in schema.get("paths", {}).items():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                document_guards(path, operation, responses)
                for status, response in responses.items():
                    if status.startswith(("4", "5")):
                        response["content"] = {"application/json": {"schema": error_ref}}
                responses.setdefault(
                    "500",
                    {
                        "description": "Unexpected error (details in the log, by request id)",
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

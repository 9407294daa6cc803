"""Prometheus metrics at ``/metrics``: HTTP traffic, pool, catalog cache and jobs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

JobStats = Callable[[FastAPI], Awaitable[list[Metric]]]


class AppCollector(Collector):
    """Reads pool and cache figures from the app's state at scrape time."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.extra: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        """Yield the current figures."""
        pool = getattr(self.app.state, "pool", None)
        if pool is not None:
            stats = pool.get_stats()
            size = GaugeMetricFamily(
                "diamond_pricing_db_pool_connections", "Pool connections", labels=["state"]
            )
            size.add_metric(["total"], stats.get("pool_size", 0))
            size.add_metric(["idle"], stats.get("pool_available", 0))
            size.add_metric(["waiting_requests"], stats.get("requests_waiting", 0))
            yield size
        cache = getattr(self.app.state, "catalog_cache", None)
        if cache is not None:
            stats = cache.stats()
            for name in ("hits", "misses", "bypasses", "not_modified"):
                counter = CounterMetricFamily(
                    f"diamond_pricing_cache_{name}", f"Catalog cache {name.replace('_', ' ')}"
                )
                counter.add_metric([], stats.get(name, 0))
                yield counter
            entries = GaugeMetricFamily("diamond_pricing_cache_entries", "Catalog cache entries")
            entries.add_metric([], stats.get("entries", 0))
            yield entries
        refresher = getattr(self.app.state, "catalog_refresher", None)
        if refresher is not None:
            listening = GaugeMetricFamily(
                "diamond_pricing_cache_listening", "1 while the version LISTEN connection is up"
            )
            listening.add_metric([], 1.0 if refresher.listening else 0.0)
            failed = GaugeMetricFamily(
                "diamond_pricing_cache_failed_polls", "Consecutive failed version polls"
            )
            failed.add_metric([], refresher.failed_polls)
            yield from (listening, failed)
        yield from self.extra


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install_metrics(app: FastAPI, job_stats: Iterable[JobStats] = ()) -> None:
    """Count requests per route and serve ``/metrics`` in Prometheus text format."""
    registry = CollectorRegistry(auto_describe=True)
    requests = Counter(
        "diamond_pricing_http_requests",
        "HTTP requests",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "diamond_pricing_http_request_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
    )
    collector = AppCollector(app)
    registry.register(collector)
    sources = list(job_stats)

    @app.middleware("http")
    async def _count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        extra: list[Metric] = []
        for source in sources:
            try:
                extra.extend(await source(app))
            except Exception:  # metrics must not fail because the database is down
                continue
        collector.extra = extra
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics_registry = registry


def gauge(
    name: str, documentation: str, values: dict[tuple[str, ...], float], labels: list[str]
) -> Any:
    """Build a gauge family from labelled values (for job statistics)."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family

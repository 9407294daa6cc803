"""The app answers health checks over real HTTP on a real database."""

from __future__ import annotations

import httpx


def test_healthz_reports_ok(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_the_database(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_unknown_route_gets_the_standard_error_shape(client: httpx.Client) -> None:
    response = client.get("/api/v2/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_metrics_exposes_prometheus_text_with_request_counts(client: httpx.Client) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        'diamond_pricing_http_requests_total{method="GET",route="/healthz",status="200"}'
        in response.text
    )
    assert "diamond_pricing_db_pool_connections" in response.text
    assert "diamond_pricing_cache_hits_total" in response.text
    assert "diamond_pricing_cache_listening 1.0" in response.text
    assert "# TYPE diamond_pricing_jobs gauge" in response.text

"""/metrics reports jobs by status and the active job's progress."""

from __future__ import annotations

import httpx

from tests.support import make_settings, running_server


def test_metrics_show_a_pending_job_and_its_counters(db_url: str, admin_key: str) -> None:
    with (
        running_server(make_settings(db_url, run_jobs=False), db_url) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": admin_key}) as http,
    ):
        idle = http.get("/metrics").text
        assert "diamond_pricing_active_job_diamonds{" not in idle
        assert http.post("/api/v2/pricing-rules/reapply").status_code == 202
        text = http.get("/metrics").text
    assert 'diamond_pricing_jobs{kind="reapply",status="pending"} 1.0' in text
    assert 'diamond_pricing_active_job_diamonds{counter="total",kind="reapply"} 0.0' in text

"""An operator's whole repricing session in a real browser: rule, preview, progress, revert, cancel."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect

from diamond_pricing.catalog.demo import DemoOptions, load_demo
from diamond_pricing.catalog.versions import bump_versions
from diamond_pricing.db import DictConn
from diamond_pricing.pricing.rules import load_engine
from diamond_pricing.settings import Settings
from tests.e2e.conftest import screenshot
from tests.support import make_settings, run_async

Conn = psycopg.Connection[dict[str, Any]]
COUNT = 2_000


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Small, slightly paced batches so the progress bar is visible moving."""
    return make_settings(
        db_url, job_batch_size=100, job_batch_pause_seconds=0.1, job_poll_seconds=0.5, job_workers=1
    )


@pytest.fixture
def inventory(db_url: str, settings: Settings) -> int:
    """A small synthetic inventory priced with the default rules."""

    async def load(conn: DictConn) -> int:
        options = DemoOptions(count=COUNT, seed=7)
        written = await load_demo(conn, options, await load_engine(conn, settings))
        await bump_versions(conn, options.feeds)
        return written

    return run_async(db_url, load)


def prices(db: Conn) -> dict[str, tuple[Decimal, Decimal | None, int | None]]:
    rows = db.execute("SELECT id, price_model_price, markup_ratio, rating FROM diamonds").fetchall()
    return {str(r["id"]): (r["price_model_price"], r["markup_ratio"], r["rating"]) for r in rows}


def log_in(page: Any, admin_key: str) -> None:
    page.goto("/login")
    page.get_by_label("Admin API key").fill(admin_key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/rules")


def history_row(page: Any, index: int = 0) -> Any:
    return page.locator("#jobs-body tr").nth(index)


def test_operator_adds_a_rule_reprices_watches_and_reverts(
    page: Any, admin_key: str, inventory: int, db: Conn
) -> None:
    before = prices(db)
    log_in(page, admin_key)
    screenshot(page, "02-rules")

    page.get_by_role("button", name="Add rule").click()
    page.get_by_label("Priority", exact=True).fill("first")
    page.get_by_label("Margin modifier (percentage points)").fill("12")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#err-priority")).to_have_text("must be an integer")
    expect(page.get_by_label("Priority", exact=True)).to_have_attribute("aria-invalid", "true")
    screenshot(page, "03-rule-validation-error")
    page.get_by_label("Priority", exact=True).fill("1")
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_load_state("load")
    expect(page.locator("#rules-table tbody tr").first).to_contain_text("+12.00%")
    expect(page.locator("#stale-banner")).to_be_visible()

    page.get_by_role("button", name="Reapply pricing").click()
    expect(page.locator("#preview-summary")).to_contain_text("will change price")
    expect(page.locator("#reapply-confirm")).to_be_enabled()
    screenshot(page, "04-reapply-preview")
    page.locator("#reapply-confirm").click()

    panel = page.locator("#active-job")
    expect(panel).to_be_visible()
    expect(page.get_by_role("button", name="Reapply pricing")).to_be_disabled()
    expect(page.locator("#job-progress-text")).to_contain_text("diamonds")
    screenshot(page, "05-job-progress")
    expect(panel).to_have_attribute("data-polling", "stopped", timeout=90_000)
    expect(page.locator("#job-progress")).to_have_js_property("value", 100)
    expect(page.locator("#job-progress-text")).to_contain_text("(100%)")
    expect(history_row(page)).to_contain_text("completed")
    expect(page.locator("#stale-banner")).to_be_hidden()
    screenshot(page, "06-job-completed")

    job_id = history_row(page).get_attribute("data-job-id")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if job_id in request.url else None)
    time.sleep(4)
    assert polls == [], "polling must stop once the job has ended"
    assert prices(db) != before

    history_row(page).get_by_role("button", name="Revert").click()
    expect(page.locator("#confirm-text")).to_contain_text("skipped")
    page.locator("#confirm-ok").click()
    expect(page.locator(f'#jobs-body tr[data-job-id="{job_id}"]')).to_contain_text(
        "reverted", timeout=90_000
    )
    screenshot(page, "07-reverted")
    assert prices(db) == before

    page.goto(f"/jobs/{job_id}")
    expect(page.locator("#summary-body")).to_contain_text("reverted")
    expect(page.locator("#rules-snapshot")).to_contain_text("Base margins")
    expect(page.locator("#changes-body tr")).to_have_count(100)
    expect(page.locator("#more-changes")).to_be_visible()
    page.locator("#more-changes").click()
    expect(page.locator("#changes-body tr")).to_have_count(200)
    screenshot(page, "09-job-page", full_page=False)

    page.goto("/diamonds")
    expect(page.locator("#diamonds-body tr")).to_have_count(50)
    page.get_by_label("Stone type").select_option("fancy")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#diamonds-body tr").first).to_contain_text("fancy")
    screenshot(page, "10-diamonds")


def test_operator_cancels_a_running_job(
    page: Any, admin_key: str, inventory: int, db: Conn, settings: Settings
) -> None:
    db.execute("UPDATE pricing_rules SET margin_modifier = margin_modifier + 1")
    log_in(page, admin_key)
    page.get_by_role("button", name="Reapply pricing").click()
    expect(page.locator("#reapply-confirm")).to_be_enabled()
    page.locator("#reapply-confirm").click()
    expect(page.locator("#cancel-job")).to_be_visible()
    page.locator("#cancel-job").click()
    expect(page.locator("#confirm-title")).to_have_text("Cancel this job?")
    page.locator("#confirm-ok").click()
    expect(history_row(page)).to_contain_text("cancelled", timeout=60_000)
    screenshot(page, "08-cancelled")
    row = db.execute(
        "SELECT status, processed_diamonds, total_diamonds FROM pricing_reapply_jobs"
    ).fetchone()
    assert row is not None
    assert row["status"] == "cancelled"
    assert row["processed_diamonds"] < row["total_diamonds"]

"""Every page in headless Chromium: the main actions clicked, screenshots, no console errors.

The tests share one live dashboard (see conftest.py); the first one fills the
archive with the dashboard's own "Sync now", and the others need that done.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, SIM_ACTIVITIES, Live, shoot

pytestmark = pytest.mark.browser
DASH = "\u2013"  # the pager puts an en dash between the first and last row numbers
PAGES = ["/", "/activities", "/tasks", "/runs", "/schedule", "/account", "/system"]


@pytest.fixture(autouse=True)
def no_console_errors(live: Live) -> Iterator[None]:
    live.console_errors.clear()
    yield
    assert live.console_errors == [], live.console_errors


@pytest.fixture
def synced(live: Live) -> Live:
    """The archive filled (by the first test's click, or here through the API)."""
    live.wait_idle()
    client = live.app.test_client()
    with client.session_transaction() as session:
        session["auth"] = live.app.config["GARMINSYNC_AUTH_MARKER"]
        session["login"] = live.app.extensions["garminsync"].logins.start()
    if client.get("/api/dashboard").get_json()["counters"]["total"] < SIM_ACTIVITIES:
        token = client.get("/api/csrf").get_json()["csrf_token"]
        assert client.post("/api/sync", json={}, headers={"X-CSRFToken": token}).status_code == 202
        live.wait_idle()
    return live


def test_login_page(anonymous: Any, live: Live) -> None:
    anonymous.goto("/activities")
    expect(anonymous).to_have_url(re.compile(r"/login\?next=/activities"))
    shoot(anonymous, "login-desktop")
    anonymous.fill("#password", "not it")
    with live.expect_http_error(401):
        anonymous.click("button[type=submit]")
        expect(anonymous.locator("#login-error")).to_have_text("Wrong password.")
    anonymous.fill("#password", PASSWORD)
    anonymous.click("button[type=submit]")
    expect(anonymous).to_have_url(live.url + "/activities")


def test_sync_now_fills_the_archive(page: Any, live: Live) -> None:
    expect(page.locator("#embedded-note")).to_be_visible()
    expect(page.locator('[data-counter="total"]')).to_have_text("0")
    page.click("#sync-now")
    expect(page.locator(".flash")).to_contain_text("started in the web process")
    # The counters are polled from /api/dashboard every few seconds.
    page.wait_for_function(
        "() => Number(document.querySelector('[data-counter=archived]').textContent.replace(/,/g, '')) > 100",
        timeout=60_000,
    )
    live.wait_idle()
    expect(page.locator('[data-counter="total"]')).to_have_text(str(SIM_ACTIVITIES), timeout=15_000)
    expect(page.locator("#current-run-none")).to_be_visible(timeout=15_000)
    expect(page.locator("#recent-runs tbody tr").first).to_contain_text("success", timeout=15_000)
    page.wait_for_function(
        "() => window.Chart && Chart.getChart('chart-months') && Chart.getChart('chart-states')"
    )
    shoot(page, "dashboard-desktop")


def test_activities_filters_sort_and_pages(page: Any, synced: Live) -> None:
    page.goto("/activities")
    expect(page.locator(".pager-summary")).to_contain_text(f"1{DASH}50 of {SIM_ACTIVITIES}")
    page.select_option("#f-per-page", "25")
    page.click("#apply-filters")
    expect(page.locator(".pager-summary")).to_contain_text(f"1{DASH}25 of {SIM_ACTIVITIES}")
    page.click("a[rel=next]")
    expect(page.locator(".pager-summary")).to_contain_text(f"26{DASH}50 of {SIM_ACTIVITIES}")
    expect(page.locator(".pagination .active")).to_have_text("2")
    shoot(page, "activities-desktop")

    page.select_option("#f-state", "downloaded")
    page.click("#apply-filters")
    states = page.locator("#activities-table tbody [data-state]")
    expect(states.first).to_be_visible()
    assert set(states.evaluate_all("els => els.map(e => e.dataset.state)")) == {"downloaded"}

    page.click("#activities-table th a:has-text('Distance')")
    expect(page).to_have_url(re.compile(r"sort=distance"))
    expect(page.locator("#activities-table th a:has-text('Distance')")).to_contain_text("▼")

    page.fill("#f-since", "2000-01-01")
    page.fill("#f-until", "1999-01-01")
    with synced.expect_http_error(400):
        page.click("#apply-filters")
        expect(page.locator("#error-message")).to_contain_text("is after until")


def test_activity_verify_and_download_again(page: Any, synced: Live) -> None:
    page.goto("/activities?state=downloaded")
    page.locator("#activities-table tbody a").first.click()
    expect(page.locator("#activity-state [data-state]")).to_have_text("downloaded")
    expect(page.locator("#download-file")).to_be_visible()
    page.click("#verify")
    expect(page.locator(".flash")).to_contain_text("the file is intact")
    page.click("#retry")  # "Download again" asks first; the dialog is accepted
    expect(page.locator(".flash").first).to_contain_text("queued in the web process")
    # The page follows the download and reloads when it settles.
    expect(page.locator("#activity-state [data-state]")).to_have_text("downloaded", timeout=30_000)
    synced.wait_idle()
    with page.expect_download() as download:
        page.click("#download-file")
    assert download.value.suggested_filename.endswith((".fit", ".gpx", ".tcx"))
    shoot(page, "activity-desktop")


def test_schedule_change(page: Any) -> None:
    page.goto("/schedule")
    page.fill("#cron", "61 * * * *")
    expect(page.locator("#cron")).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#cron-feedback")).to_contain_text("not a valid cron expression")
    page.click("#presets button:has-text('daily')")
    expect(page.locator("#cron")).to_have_value("30 3 * * *")
    expect(page.locator("#cron-preview")).to_contain_text("03:30")
    page.click("#save-schedule")
    expect(page.locator(".flash")).to_contain_text("Cron saved.")
    expect(page.locator("#schedule-cron")).to_have_text("30 3 * * *")
    expect(page.locator("#schedule-state")).to_have_text("on")
    expect(page.locator("#schedule-next li")).to_have_count(5)
    page.click("#toggle-schedule")
    expect(page.locator("#schedule-state")).to_have_text("off")
    page.click("#toggle-schedule")
    expect(page.locator("#schedule-state")).to_have_text("on")
    shoot(page, "schedule-desktop")


def test_runs_and_tasks(page: Any, synced: Live) -> None:
    page.goto("/runs")
    page.select_option("#r-status", "success")
    page.click("#run-filters button[type=submit]")
    rows = page.locator("#runs-table tbody tr")
    expect(rows.first).to_contain_text("success")
    shoot(page, "runs-desktop")
    rows.first.locator("a").click()
    expect(page.locator("h1")).to_contain_text("Sync run #")
    shoot(page, "run-desktop")

    page.goto("/tasks")
    expect(page.locator("#workers")).to_contain_text("Embedded mode")
    page.select_option("#t-state", "failed")
    page.click("#task-filters button[type=submit]")
    tasks = page.locator("#tasks-table tbody tr")
    expect(tasks.first.locator("[data-state]")).to_have_text("failed")
    shoot(page, "tasks-desktop")
    tasks.first.locator("a").click()
    expect(page.locator("h1")).to_contain_text("garminsync.")
    shoot(page, "task-desktop")


def test_account_and_system(page: Any, synced: Live) -> None:
    page.goto("/account")
    expect(page.locator("#token-state [data-state]")).to_have_text("valid")
    shoot(page, "account-desktop")
    page.goto("/system")
    expect(page.locator("#sys-database")).to_contain_text("activities")
    expect(page.locator("#db-url")).to_contain_text("sqlite")
    shoot(page, "system-desktop")


def test_phone_layout(phone: Any, synced: Live) -> None:
    for path in PAGES:
        phone.goto(path)
        name = "dashboard" if path == "/" else path.strip("/")
        if path == "/":
            phone.wait_for_function("() => window.Chart && Chart.getChart('chart-months')")
        shoot(phone, f"{name}-phone")
        # Nothing wider than the screen: tables scroll inside their own box.
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    phone.goto("/")
    expect(phone.locator("#main-nav")).to_be_hidden()
    phone.click(".navbar-toggler")
    expect(phone.locator("#main-nav")).to_be_visible()
    phone.click("#main-nav >> text=Activities")
    expect(phone).to_have_url(re.compile(r"/activities$"))
    phone.goto("/activities?state=downloaded")
    phone.locator("#activities-table tbody a").first.click()
    shoot(phone, "activity-phone")

"""A live dashboard in a thread, against the Garmin simulator, and headless Chromium.

The store starts with a few sync runs and task-history rows; the activities
arrive through the dashboard's own "Sync now" (embedded mode: the job runs in
the web process, over real HTTP to the simulator). Screenshots go to
`test-output/screenshots/` at the repository root.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from services.simulator.server import SimulatorServer
from services.web.app import create_app
from shared.db import create_session, ensure_schema
from tests.web_factories import make_account, seed_runs, seed_tasks, web_settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
PASSWORD = "browser-test-password"
SIM_ACTIVITIES = 130
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Live:
    url: str
    app: Flask
    sim: SimulatorServer
    console_errors: list[str] = field(default_factory=list)

    @contextmanager
    def expect_http_error(self, status: int) -> Iterator[None]:
        """A 4xx the test provokes on purpose: Chromium logs it to the console; take it off the list."""
        before = len(self.console_errors)
        yield
        needle = f"status of {status}"
        fresh = self.console_errors[before:]
        matching = [message for message in fresh if needle in message]
        assert matching, f"expected a console message with {needle!r}, got {fresh}"
        self.console_errors.remove(matching[0])

    def wait_idle(self, timeout: float = 90) -> None:
        runner = self.app.extensions["garminsync"].runner
        runner.join(timeout)
        assert not runner.busy, "the embedded job did not finish"


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp_path = tmp_path_factory.mktemp("browser")
    with SimulatorServer(activities=SIM_ACTIVITIES, seed=11, manual_ratio=0.03) as sim:
        settings = web_settings(
            tmp_path,
            GARMINSYNC_GARMIN_API_URL=sim.url,
            GARMINSYNC_RATE_LIMIT="1000/second",
            GARMINSYNC_WEB_PASSWORD=PASSWORD,
            GARMIN_EMAIL="athlete@example.com",
            GARMINTOKENS=json.dumps(sim.state.issue_tokens()),
        )
        ensure_schema(settings.database_url)
        with create_session(settings.database_url) as session:
            account = make_account(session, display_name="sim-athlete", token_state="none")
            seed_runs(session, account.id, 6)
            seed_tasks(session, account.id, 30)
        app = create_app(settings)
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
        thread.start()
        try:
            yield Live(f"http://127.0.0.1:{server.server_port}", app, sim)
        finally:
            server.shutdown()
            app.extensions["garminsync"].runner.join(30)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _watch(page: Any, errors: list[str]) -> None:
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    page.on("dialog", lambda dialog: dialog.accept())


def _logged_in_page(browser: Any, live: Live, viewport: dict[str, int]) -> Iterator[Any]:
    context = browser.new_context(viewport=viewport, base_url=live.url)
    page = context.new_page()
    _watch(page, live.console_errors)
    page.goto("/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live.url + "/")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    """A desktop-sized page, logged in."""
    yield from _logged_in_page(browser, live, DESKTOP)


@pytest.fixture
def phone(browser: Any, live: Live) -> Iterator[Any]:
    """A phone-sized page, logged in."""
    yield from _logged_in_page(browser, live, PHONE)


@pytest.fixture
def anonymous(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, base_url=live.url)
    page = context.new_page()
    _watch(page, live.console_errors)
    try:
        yield page
    finally:
        context.close()


def shoot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

"""DNS rebinding, as a browser does it: a foreign name that resolves to 127.0.0.1.

Chromium maps `rebind.example` to 127.0.0.1 (as an attacker's DNS would after
the page loaded); the password-less dashboard must answer that name with
nothing, while `127.0.0.1` keeps working.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from services.web.app import create_app
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web_factories import seed_store, web_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def open_dashboard(tmp_path: Path) -> Iterator[int]:
    """A dashboard without a password (embedded mode), in a thread; yields its port."""
    settings = web_settings(tmp_path)
    seed_store(settings.database_url, activities=5, runs=1, tasks=1)
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()


def test_a_rebound_host_name_gets_nothing(browser: Any, open_dashboard: int) -> None:
    port = open_dashboard
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.example 127.0.0.1"]
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=args)
    try:
        page = chromium.new_page()
        answer = page.goto(f"http://rebind.example:{port}/api/system")
        assert answer is not None and answer.status == 403
        assert "database" not in answer.text()
        # The attacker's script, same-origin on the rebound name: no token, no action.
        results = page.evaluate(
            """async () => {
                const csrf = await fetch('/api/csrf');
                const change = await fetch('/api/schedule', {method: 'POST',
                    headers: {'Content-Type': 'application/json'}, body: '{"cron": "hourly"}'});
                return [csrf.status, change.status, await csrf.text()];
            }"""
        )
        assert results[:2] == [403, 403] and "csrf_token" not in results[2]
        own = page.goto(f"http://127.0.0.1:{port}/api/schedule")
        assert own is not None and own.status == 200 and own.json()["cron"] == "0 */6 * * *"
    finally:
        chromium.close()

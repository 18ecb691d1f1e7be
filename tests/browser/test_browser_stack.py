"""The dashboard against the running stack (`make up`): redis-server, two Celery workers,
beat, gunicorn and the simulator — driven from headless Chromium."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS
from tests.conftest import REPO, clean_environ
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]
ACTIVITIES = 40


@pytest.fixture
def stack_url(tmp_path: Path) -> Iterator[str]:
    env = {**clean_environ(), "GARMINSYNC_RATE_LIMIT": "40/second", "GARMINSYNC_SECRET_KEY": "stack-test"}
    argv = [
        sys.executable, str(REPO / "scripts" / "up.py"), "--simulator", "--activities", str(ACTIVITIES),
        "--simulator-port", "0", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()),
        "--redis-port", str(free_port()), "--workers", "2", "--log-dir", str(tmp_path / "logs"),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("READY"):
                match = re.search(r"web=(\S+)", line)
                assert match, line
                yield match.group(1)
                break
        else:
            logs = "\n".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
            pytest.fail(f"make up never became ready (exit {proc.wait(5)}):\n{logs[-4000:]}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def counter(page: Any, name: str) -> int:
    return int(page.text_content(f"[data-counter={name}]").replace(",", "").strip())


def test_sync_now_through_redis_and_workers(stack_url: str, browser: Any) -> None:
    errors: list[str] = []
    context = browser.new_context(viewport=DESKTOP, base_url=stack_url)
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/")
        page.click("#sync-now")
        # The live counters poll the store while the workers download.
        page.wait_for_function(
            "() => ['archived', 'no_file'].map(n => Number(document.querySelector(`[data-counter=${n}]`)"
            ".textContent.replace(/,/g, ''))).reduce((a, b) => a + b) === " + str(ACTIVITIES),
            timeout=90_000,
        )
        assert counter(page, "failed") == 0 and counter(page, "missing") == 0
        page.screenshot(path=str(SCREENSHOTS / "stack-dashboard-desktop.png"), full_page=True)
        page.goto("/tasks?state=succeeded")
        page.wait_for_selector("td >> text=download_activity")
        body = page.text_content("body") or ""
        assert "worker1@" in body and "worker2@" in body  # workers online, from Celery's ping
        assert "Embedded mode" not in body
        page.screenshot(path=str(SCREENSHOTS / "stack-tasks-desktop.png"), full_page=True)
        phone = context.new_page()
        phone.set_viewport_size(PHONE)
        phone.goto("/")
        assert counter(phone, "failed") == 0
        phone.screenshot(path=str(SCREENSHOTS / "stack-dashboard-phone.png"), full_page=True)
    finally:
        context.close()
    assert errors == []

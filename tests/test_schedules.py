"""Crons beat cannot run are refused everywhere; one already stored breaks nothing.

The CLI cases are in test_cli_errors.py; here the dashboard (Flask test client)
and a real `garminsync beat` against a real redis-server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import update

from services.web.app import create_app
from shared.db import create_session
from shared.models import Schedule
from tests.conftest import clean_environ
from tests.stack import Processes, wait_until
from tests.web_factories import (
    FakeBroker,
    csrf_headers,
    make_account,
    seed_schedule,
    seed_store,
    web_settings,
)

IMPOSSIBLE = "0 0 30 2 *"


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    seed_store(settings.database_url, activities=10, runs=2, tasks=2)
    return create_app(settings, broker=FakeBroker())


def store_cron(app: Flask, cron: str) -> None:
    """Write a cron straight into the store, as a release without the check could have."""
    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        session.execute(update(Schedule).values(cron=cron))


def test_the_api_and_the_form_refuse_a_cron_that_never_runs(app: Flask) -> None:
    client = app.test_client()
    headers = csrf_headers(client)
    refused = client.post("/api/schedule", json={"cron": IMPOSSIBLE, "enabled": True}, headers=headers)
    assert refused.status_code == 400 and "never runs" in refused.get_json()["error"]
    form = client.post("/schedule", data={"cron": "0 0 * * 7"}, headers=headers)
    assert form.status_code == 400 and "0 is Sunday" in form.get_data(as_text=True)
    preview = client.get("/api/schedule/preview", query_string={"cron": IMPOSSIBLE}).get_json()
    assert preview["valid"] is False and "never runs" in preview["error"]
    assert client.get("/api/schedule").get_json()["cron"] == "0 */6 * * *"  # unchanged


def test_a_stored_impossible_cron_leaves_every_page_working(app: Flask) -> None:
    store_cron(app, IMPOSSIBLE)
    client = app.test_client()
    for url in ("/", "/schedule", "/api/schedule", "/api/dashboard"):
        assert client.get(url).status_code == 200, url
    schedule = client.get("/api/schedule").get_json()
    assert schedule["next_runs"] == [] and "never runs" in schedule["error"]
    assert "never runs" in client.get("/schedule").get_data(as_text=True)
    assert client.get("/api/dashboard").get_json()["next_run"] is None
    fixed = client.post("/api/schedule", json={"cron": "hourly"}, headers=csrf_headers(client))
    assert fixed.status_code == 200 and fixed.get_json()["error"] is None


@pytest.mark.integration
def test_beat_skips_one_bad_stored_schedule_and_runs_the_others(tmp_path: Path, redis_url: str) -> None:
    env: dict[str, Any] = {
        **clean_environ(),
        "GARMINSYNC_DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": redis_url,
        "GARMINSYNC_ENV_FILE": str(tmp_path / "none.env"),
    }
    settings = web_settings(tmp_path, REDIS_URL=redis_url)
    seed_store(settings.database_url, activities=0, runs=0, tasks=0)  # account 1, cron 0 */6 * * *
    with create_session(settings.database_url) as session:
        other = make_account(session, "club")
        seed_schedule(session, other.id, cron=IMPOSSIBLE)
    procs = Processes(env, tmp_path / "logs")
    client = redis.Redis.from_url(redis_url)
    try:
        procs.beat()
        procs.wait_for_line("beat", "skipped", timeout=60)
        wait_until(lambda: client.exists("garminsync:redbeat:sync-account-1"), 30, what="the good schedule")
        procs.wait_for_line("beat", "Acquired lock", timeout=30)
        assert procs.procs["beat"].poll() is None  # still running
        assert not client.exists(f"garminsync:redbeat:sync-account-{other.id}")
        assert f"schedule of account {other.id} skipped" in procs.log("beat")
        assert "never runs" in procs.log("beat")
    finally:
        procs.stop()

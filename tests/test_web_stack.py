"""The dashboard's actions through the real broker: Redis, a `garminsync worker` (and beat) process.

The dashboard is the Flask app in this process with its production broker
(`CeleryBroker`, built from the settings); the work is done by real worker
processes against the simulator, over the real garminconnect client. Each
test checks what the user then sees: the run closes, the file is archived,
the schedule fires, the tokens work for the workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from garminconnect.client import sso
from sqlalchemy import select

from services.simulator.state import DEFAULT_EMAIL, DEFAULT_PASSWORD, MFA_CODE
from services.web.app import create_app
from shared.config import load_settings
from shared.db import create_session
from shared.models import Account, Activity, TaskRun
from shared.runtime import set_runtime
from tests.conftest import assert_no_secret, token_values
from tests.stack import Stack, StackFactory, next_minute_cron, wait_until
from tests.web_factories import csrf_headers

pytestmark = pytest.mark.integration


@pytest.fixture
def dashboard(sqlite_make: StackFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Flask]]:
    """A stack with one worker, and the dashboard on the same settings (Redis mode)."""
    stack = sqlite_make(activities=12, latency_ms=20)
    # As in production, the web process's environment holds the settings (the hand-off reads them).
    for key, value in stack.cli.env.items():
        monkeypatch.setenv(key, value)
    set_runtime(None)
    app = create_app(load_settings(environ=stack.cli.env, env_file=os.devnull))
    stack.procs.worker("w1")
    yield stack, app
    set_runtime(None)


def sync_now(client: FlaskClient, stack: Stack) -> int:
    """Click "Sync now" and wait until the run it opened has closed; its id."""
    started = client.post("/api/sync", json={}, headers=csrf_headers(client))
    assert started.status_code == 202, started.get_json()
    body = started.get_json()
    assert body["mode"] == "redis" and body["task_id"]
    stack.wait_closed(body["run_id"])
    return int(body["run_id"])


def test_sync_now_verify_and_download_again_through_a_worker(dashboard: tuple[Stack, Flask]) -> None:
    stack, app = dashboard
    client = app.test_client()
    run_id = sync_now(client, stack)
    shown = client.get(f"/api/runs/{run_id}").get_json()
    assert shown["status"] == "success" and shown["trigger"] == "web", shown
    assert stack.archived_all()
    assert client.get("/api/dashboard").get_json()["current_run"] is None

    # A file gets damaged on disk; "Verify" tells, "Download again" repairs it through the worker.
    victim = stack.sim.state.ids_by_kind("fit")[0]
    with create_session(stack.db_url) as session:
        stored = session.get(Activity, victim)
        assert stored is not None and stored.file_path
        path = stack.cli.data_dir / stored.file_path
    original = path.read_bytes()
    path.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    verdict = client.post(f"/api/activities/{victim}/verify", headers=csrf_headers(client)).get_json()
    assert verdict["ok"] is False and "sha256" in verdict["reason"]
    retry = client.post(f"/api/activities/{victim}/retry", headers=csrf_headers(client))
    assert retry.status_code == 202 and retry.get_json()["queued"] == [victim]
    wait_until(lambda: stack.states()[victim] == "downloaded", 60, what="the file downloaded again")
    assert client.post(f"/api/activities/{victim}/verify", headers=csrf_headers(client)).get_json()["ok"]
    assert path.read_bytes() == original
    with create_session(stack.db_url) as session:
        tasks = session.scalars(
            select(TaskRun).where(TaskRun.activity_id == victim).order_by(TaskRun.queued_at)
        ).all()
    assert [(t.state, t.worker.split("@")[0] if t.worker else None) for t in tasks] == [
        ("succeeded", "w1")
    ] * 2


def test_mfa_login_on_the_account_page_gives_the_workers_new_tokens(
    dashboard: tuple[Stack, Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, app = dashboard
    monkeypatch.setattr(sso, "MOBILE_DELAY_MIN_S", 0.0)  # garminconnect's anti-bot pause
    monkeypatch.setattr(sso, "MOBILE_DELAY_MAX_S", 0.0)
    sim = stack.sim
    sim.state.configure(mfa=True)
    # The password was changed at Garmin: the stored tokens are dead, only a new login helps.
    sim.state.revoke_access_tokens()
    sim.state.revoke_refresh_tokens()
    old = token_values(stack.cli.env)
    client = app.test_client()

    asked = client.post(
        "/account/login",
        data={"email": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD},
        headers=csrf_headers(client),
        follow_redirects=True,
    )
    assert asked.status_code == 200 and "Security code" in asked.get_data(as_text=True)
    # The half-done login waits in Redis (any dashboard process can finish it), encrypted.
    direct = redis.Redis.from_url(stack.redis.url)
    [pending] = direct.keys("garminsync:web:mfa:*")
    assert_no_secret(
        {DEFAULT_PASSWORD, DEFAULT_EMAIL}, "the pending login in Redis", direct.get(pending) or b""
    )

    done = client.post(
        "/account/mfa", data={"code": MFA_CODE}, headers=csrf_headers(client), follow_redirects=True
    )
    assert done.status_code == 200 and "Logged in to Garmin as" in done.get_data(as_text=True)
    assert direct.keys("garminsync:web:mfa:*") == []
    with create_session(stack.db_url) as session:
        account = session.scalars(select(Account)).one()
        assert account.token_state == "valid" and account.login_blocked_until is None
    new = token_values({**stack.cli.env, "GARMINTOKENS": ""})  # what the store holds now
    assert new.isdisjoint(old)

    sim.state.reset_stats()
    run_id = sync_now(client, stack)
    assert stack.run(run_id).status == "success" and stack.archived_all()
    assert sim.state.stats()["logins"] == 0  # the worker used the stored tokens, no login of its own
    secrets = old | new | {DEFAULT_PASSWORD}
    stack.assert_no_secrets(secrets)
    for url in ("/", "/account", "/api/account", "/tasks", "/api/tasks", "/runs", "/system", "/api/system"):
        assert_no_secret(secrets, url, client.get(url).get_data(as_text=True))


def test_a_schedule_saved_on_the_dashboard_fires_and_keeps_its_run_across_a_retry(
    dashboard: tuple[Stack, Flask],
) -> None:
    stack, app = dashboard
    stack.procs.beat()
    stack.procs.wait_for_line("beat", "Acquired lock")
    client = app.test_client()
    cron, fires_at = next_minute_cron()
    saved = client.post("/api/schedule", json={"cron": cron, "enabled": True}, headers=csrf_headers(client))
    assert saved.status_code == 200 and "warning" not in saved.get_json(), saved.get_json()
    direct = redis.Redis.from_url(stack.redis.url)
    entry: Any = json.loads(direct.hget("garminsync:redbeat:sync-account-1", "definition") or "null")
    assert entry["task"] == "garminsync.sync_account" and entry["kwargs"]["trigger"] == "schedule"
    assert (entry["schedule"]["minute"], entry["schedule"]["hour"]) == (
        str(fires_at.minute),
        str(fires_at.hour),
    )

    # Garmin fails the first list request: the sync task retries, and must keep its run.
    stack.sim.state.set_faults({"match": "list", "status": 503, "count": 1})
    wait_until(lambda: stack.runs(), 120, interval=1, what=f"the sync scheduled for {fires_at:%H:%M} UTC")
    run = stack.wait_closed(stack.runs()[0].id)
    assert (run.trigger, run.status) == ("schedule", "success"), run.message
    assert [r.id for r in stack.runs()] == [run.id]  # one run across the retry
    assert stack.sim.state.stats()["faults_injected"] == 1
    assert stack.archived_all()
    with create_session(stack.db_url) as session:
        [sync_task] = session.scalars(select(TaskRun).where(TaskRun.name == "garminsync.sync_account")).all()
    assert (sync_task.state, sync_task.retries) == ("succeeded", 1)
    assert run.task_id == sync_task.task_id

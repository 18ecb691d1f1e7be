"""Embedded mode end to end: the dashboard syncs and logs in against the Garmin simulator.

No Redis: "Sync now" runs the real job code in the web process's one
background thread, over real HTTP to the simulator, with the real
garminconnect client.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from flask import Flask
from flask.testing import FlaskClient
from garminconnect.client import sso
from sqlalchemy import select

from services.simulator.server import SimulatorServer
from services.simulator.state import DEFAULT_EMAIL, DEFAULT_PASSWORD, MFA_CODE
from services.web.app import create_app
from shared.db import create_session
from shared.models import Account, Activity, SyncRun
from tests.stack import wait_until
from tests.web_factories import csrf_headers, web_settings

ACTIVITIES = 24


@pytest.fixture
def no_login_delay() -> Iterator[None]:
    """garminconnect's mobile flow sleeps 2-5 s before posting credentials; not here."""
    with (
        mock.patch.object(sso, "MOBILE_DELAY_MIN_S", 0.0),
        mock.patch.object(sso, "MOBILE_DELAY_MAX_S", 0.0),
    ):
        yield


def embedded_app(tmp_path: Any, sim: SimulatorServer, tokens: bool = True) -> Flask:
    env = {
        "GARMINSYNC_GARMIN_API_URL": sim.url,
        "GARMINSYNC_RATE_LIMIT": "200/second",
        "GARMIN_EMAIL": DEFAULT_EMAIL,
    }
    if tokens:
        env["GARMINTOKENS"] = json.dumps(sim.state.issue_tokens())
    return create_app(web_settings(tmp_path, **env))


def wait_idle(app: Flask, timeout: float = 60) -> dict[str, Any]:
    runner = app.extensions["garminsync"].runner
    runner.join(timeout)
    assert not runner.busy
    status = runner.status()
    assert status is not None
    return status


def test_sync_now_archives_everything(tmp_path: Any) -> None:
    with SimulatorServer(activities=ACTIVITIES, seed=3, latency_ms=5, manual_ratio=0.1) as sim:
        app = embedded_app(tmp_path, sim)
        client: FlaskClient = app.test_client()
        assert "Embedded mode" in client.get("/").get_data(as_text=True)
        # Garmin answers the first list request slowly, so the first job is surely still running
        # when the second click arrives (it only has to come within these seconds).
        sim.state.set_faults({"match": "list", "delay_ms": 3000, "count": 1})
        response = client.post("/api/sync", json={}, headers=csrf_headers(client))
        assert response.status_code == 202 and response.get_json()["mode"] == "embedded"
        run_id = response.get_json()["run_id"]
        # Counted when the request arrives, before the delay (request counters come after the answer).
        wait_until(lambda: sim.state.stats()["faults_injected"] == 1, 30, what="the slow list request")
        busy = client.post("/api/sync", json={}, headers=csrf_headers(client))
        assert busy.status_code == 409 and "one job at a time" in busy.get_json()["error"]
        status = wait_idle(app)
        assert status["error"] is None, status
        dashboard = client.get("/api/dashboard").get_json()
        counters = dashboard["counters"]
        assert counters["total"] == ACTIVITIES
        assert counters["archived"] + counters["no_file"] == ACTIVITIES and counters["archived"] > 0
        assert dashboard["current_run"] is None
        with create_session(app.extensions["garminsync"].settings.database_url) as session:
            run = session.get(SyncRun, run_id)
            assert run is not None and run.status == "success" and run.trigger == "web"
            archived = session.scalars(select(Activity).where(Activity.state == "downloaded")).first()
            assert archived is not None
            archived_id, sha = archived.id, archived.sha256

        # The archived file comes back byte for byte, verifies, and can be fetched again.
        data = client.get(f"/activities/{archived_id}/file").data
        assert hashlib.sha256(data).hexdigest() == sha
        verify = client.post(f"/api/activities/{archived_id}/verify", headers=csrf_headers(client))
        assert verify.get_json()["ok"] is True
        retry = client.post(f"/api/activities/{archived_id}/retry", headers=csrf_headers(client))
        assert retry.status_code == 202 and retry.get_json()["mode"] == "embedded"
        assert wait_idle(app)["done"] == 1
        assert client.get(f"/api/activities/{archived_id}").get_json()["state"] == "downloaded"
        assert "No task history: embedded mode" in client.get("/tasks").get_data(as_text=True)
        assert client.get("/api/workers").get_json()["mode"] == "embedded"
        assert client.get("/readyz").get_json()["checks"]["redis"].startswith("not configured")


def test_sync_without_tokens_ends_the_run_with_the_reason(tmp_path: Any) -> None:
    with SimulatorServer(activities=3, seed=4) as sim:
        app = embedded_app(tmp_path, sim, tokens=False)
        client = app.test_client()
        run_id = client.post("/api/sync", json={}, headers=csrf_headers(client)).get_json()["run_id"]
        status = wait_idle(app)
        assert "login" in (status["error"] or "")
        run = client.get(f"/api/runs/{run_id}").get_json()
        assert run["status"] == "error" and "login" in run["message"]
        page = client.get("/").get_data(as_text=True)
        assert "login" in page


def test_garmin_login_in_the_page(tmp_path: Any, no_login_delay: None) -> None:
    with SimulatorServer(activities=3, seed=5, display_name="runner42", full_name="Robin Runner") as sim:
        app = embedded_app(tmp_path, sim, tokens=False)
        client = app.test_client()
        wrong = client.post(
            "/account/login", data={"email": DEFAULT_EMAIL, "password": "nope"}, headers=csrf_headers(client)
        )
        assert wrong.status_code == 400 and "refused the email or password" in wrong.get_data(as_text=True)
        ok = client.post(
            "/account/login",
            data={"email": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD},
            headers=csrf_headers(client),
            follow_redirects=True,
        )
        assert ok.status_code == 200
        text = ok.get_data(as_text=True)
        assert "Logged in to Garmin as Robin Runner" in text and DEFAULT_PASSWORD not in text
        account = client.get("/api/account").get_json()
        assert account["token_state"] == "valid" and account["full_name"] == "Robin Runner"


def test_garmin_login_with_mfa_code(tmp_path: Any, no_login_delay: None) -> None:
    with SimulatorServer(activities=3, seed=6, mfa=True) as sim:
        app = embedded_app(tmp_path, sim, tokens=False)
        client = app.test_client()
        started = client.post(
            "/api/account/login",
            json={"email": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD},
            headers=csrf_headers(client),
        )
        assert started.status_code == 200 and started.get_json()["status"] == "needs_mfa"
        assert client.get("/api/account").get_json()["pending_mfa"] is True
        page = client.get("/account").get_data(as_text=True)
        assert "Security code" in page
        # The session cookie holds a random key only; Garmin's SSO state stays on the server.
        cookie = client.get_cookie("garminsync_session")
        assert cookie is not None
        pending = app.extensions["garminsync"].pending
        key = next(iter(pending._memory))
        assert key in _session_payload(app, cookie.value)
        assert DEFAULT_PASSWORD not in cookie.value and DEFAULT_EMAIL not in _session_payload(
            app, cookie.value
        )

        wrong = client.post("/account/mfa", data={"code": "000000"}, headers=csrf_headers(client))
        assert wrong.status_code == 400 and "MFA code was not accepted" in wrong.get_data(as_text=True)
        assert client.get("/api/account").get_json()["pending_mfa"] is True  # may try again
        done = client.post("/api/account/mfa", json={"code": MFA_CODE}, headers=csrf_headers(client))
        assert done.status_code == 200 and done.get_json()["status"] == "logged_in"
        assert client.get("/api/account").get_json()["pending_mfa"] is False
        with create_session(app.extensions["garminsync"].settings.database_url) as session:
            stored = session.scalars(select(Account)).one()
            assert stored.token_state == "valid" and stored.token_blob
        late = client.post("/api/account/mfa", json={"code": MFA_CODE}, headers=csrf_headers(client))
        assert late.status_code == 400 and "expired" in late.get_json()["error"]


def _session_payload(app: Flask, cookie: str) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return json.dumps(serializer.loads(cookie))


def test_pending_logins_expire(tmp_path: Any) -> None:
    from services.web.pending import PendingLogin, PendingLogins
    from shared.tokens import TokenCipher

    store = PendingLogins(TokenCipher("k"), ttl_s=0)
    key = store.put(PendingLogin(1, "a@b.c", {"cookies": "sso"}))
    time.sleep(0.01)  # on purpose: a TTL of 0 has passed once any time has
    assert store.get(key) is None
    lasting = PendingLogins(TokenCipher("k"))
    key = lasting.put(PendingLogin(1, "a@b.c", {"cookies": "sso"}))
    assert b"sso" not in lasting._memory[key][1]  # encrypted at rest, even in memory
    assert lasting.get(key) == PendingLogin(1, "a@b.c", {"cookies": "sso"})

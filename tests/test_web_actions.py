"""What the dashboard does (Redis mode, fake broker): sync, retry, bulk, verify, revoke, schedule.

Each test gets a fresh store; a broker that is down answers 503 and changes
nothing, while the pages keep working read-only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.web.app import create_app
from shared.db import create_session
from shared.models import Account, Activity, Schedule, SyncRun
from tests.web_factories import BASE_ID, FakeBroker, csrf_headers, make_account, seed_store, web_settings


@pytest.fixture
def env(tmp_path: Any) -> Iterator[tuple[Flask, FakeBroker, dict[str, Any]]]:
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    ids = seed_store(settings.database_url, activities=120, runs=12, tasks=10)
    broker = FakeBroker()
    app = create_app(settings, broker=broker)
    yield app, broker, ids


@pytest.fixture
def client(env: tuple[Flask, FakeBroker, dict[str, Any]]) -> FlaskClient:
    return env[0].test_client()


def url_of(app: Flask) -> str:
    return str(app.extensions["garminsync"].settings.database_url)


def activity(app: Flask, activity_id: int) -> Activity:
    with create_session(url_of(app)) as session:
        found = session.get(Activity, activity_id)
        assert found is not None
        session.expunge(found)
        return found


def test_sync_now_opens_a_run_and_queues_it(client: FlaskClient, env: Any) -> None:
    app, broker, ids = env
    response = client.post("/sync", data={"full": "1"}, headers=csrf_headers(client))
    assert response.status_code == 302
    assert broker.syncs and broker.syncs[0][0] == ids["account_id"] and broker.syncs[0][2] is True
    run_id = broker.syncs[0][1]
    with create_session(url_of(app)) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None and run.trigger == "web" and run.status == "running" and run.full
        assert run.task_id == f"sync-task-{run_id}"
    page = client.get("/").get_data(as_text=True)
    assert f"Sync run #{run_id} queued." in page
    data = client.get("/api/dashboard").get_json()
    assert data["current_run"]["id"] == run_id

    api = client.post("/api/sync", json={}, headers=csrf_headers(client))
    assert api.status_code == 202
    assert api.get_json()["mode"] == "redis" and api.get_json()["task_id"].startswith("sync-task-")


def test_broker_down_is_503_and_read_only(client: FlaskClient, env: Any) -> None:
    app, broker, _ = env
    broker.up = False
    headers = csrf_headers(client)
    with create_session(url_of(app)) as session:
        runs_before = session.scalar(select(func.count()).select_from(SyncRun))
    response = client.post("/sync", headers=headers)
    assert response.status_code == 503
    assert "Redis is unreachable" in response.get_data(as_text=True)
    api = client.post("/api/sync", json={}, headers=headers)
    assert api.status_code == 503 and "cannot reach Redis" in api.get_json()["error"]
    retry = client.post(f"/api/activities/{BASE_ID + 95}/retry", headers=headers)
    assert retry.status_code == 503
    assert activity(app, BASE_ID + 95).state == "failed"  # nothing claimed
    assert client.post(f"/api/tasks/{env[2]['task_ids'][3]}/revoke", headers=headers).status_code == 503
    assert client.post("/api/activities/enqueue", json={}, headers=headers).status_code == 503
    with create_session(url_of(app)) as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == runs_before
    for url in ("/", "/activities", "/tasks", "/runs", "/system", "/api/dashboard", "/api/workers"):
        page = client.get(url)
        assert page.status_code == 200, url
    assert "Redis is unreachable" in client.get("/").get_data(as_text=True)
    assert client.get("/readyz").status_code == 503
    assert client.get("/metrics").status_code == 200


def test_retry_claims_and_queues_once(client: FlaskClient, env: Any) -> None:
    app, broker, _ = env
    failed_id = BASE_ID + 95
    response = client.post(f"/activities/{failed_id}/retry", headers=csrf_headers(client))
    assert response.status_code == 302 and response.location.endswith(f"/activities/{failed_id}")
    assert broker.downloads == [failed_id]
    after = activity(app, failed_id)
    assert after.state == "queued" and after.attempts == 0
    again = client.post(f"/api/activities/{failed_id}/retry", headers=csrf_headers(client))
    assert again.status_code == 409 and "already queued" in again.get_json()["error"]
    page = client.get(f"/activities/{failed_id}").get_data(as_text=True)
    assert "In progress" in page


def test_bulk_enqueue_of_the_filtered_set(client: FlaskClient, env: Any) -> None:
    app, broker, _ = env
    response = client.post(
        "/api/activities/enqueue", json={"type": "cycling", "state": "failed"}, headers=csrf_headers(client)
    )
    assert response.status_code == 202
    body = response.get_json()
    with create_session(url_of(app)) as session:
        queued = set(session.scalars(select(Activity.id).where(Activity.state == "queued")))
    assert body["queued"] == len(queued) == len(broker.downloads) > 0
    assert set(broker.downloads) == queued
    for activity_id in queued:
        found = activity(app, activity_id)
        assert found.activity_type == "cycling"
    # Every missing or failed activity, via the page's form.
    form = client.post("/activities/enqueue", data={}, headers=csrf_headers(client))
    assert form.status_code == 302
    with create_session(url_of(app)) as session:
        left = session.scalar(
            select(func.count()).select_from(Activity).where(Activity.state.in_(["missing", "failed"]))
        )
    assert left == 0
    nothing = client.post("/api/activities/enqueue", json={"state": "failed"}, headers=csrf_headers(client))
    assert nothing.get_json()["queued"] == 0 and "Nothing to queue" in nothing.get_json()["message"]


def test_verify_and_download_an_archived_file(client: FlaskClient, env: Any) -> None:
    app, _, _ = env
    settings = app.extensions["garminsync"].settings
    target = activity(app, BASE_ID)
    assert target.file_path is not None
    payload = b"not really a FIT file, but the right size and hash"
    path = settings.data_dir / target.file_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    with create_session(settings.database_url) as session:
        stored = session.get(Activity, BASE_ID)
        assert stored is not None
        stored.file_size = len(payload)
        stored.sha256 = hashlib.sha256(payload).hexdigest()
        stored.file_format = "tcx"  # skip the FIT CRC check for this stand-in

    ok = client.post(f"/api/activities/{BASE_ID}/verify", headers=csrf_headers(client)).get_json()
    assert ok["ok"] is True and "intact" in ok["message"]
    download = client.get(f"/activities/{BASE_ID}/file")
    assert download.status_code == 200 and download.data == payload
    assert f"filename={path.name}" in download.headers["Content-Disposition"]
    assert client.get(f"/api/activities/{BASE_ID}/file").data == payload

    path.write_bytes(payload + b"!")
    bad = client.post(f"/activities/{BASE_ID}/verify", headers=csrf_headers(client), follow_redirects=True)
    assert "differs from recorded" in bad.get_data(as_text=True)
    missing_state = client.post(f"/api/activities/{BASE_ID + 90}/verify", headers=csrf_headers(client))
    assert missing_state.status_code == 409


def test_download_never_leaves_the_data_dir(client: FlaskClient, env: Any, tmp_path: Any) -> None:
    app, _, _ = env
    secret = tmp_path / "outside.txt"
    secret.write_text("private")
    with create_session(url_of(app)) as session:
        stored = session.get(Activity, BASE_ID + 1)
        assert stored is not None
        stored.file_path = "../outside.txt"
    response = client.get(f"/activities/{BASE_ID + 1}/file")
    assert response.status_code == 404 and b"private" not in response.data


def test_revoke(client: FlaskClient, env: Any) -> None:
    _, broker, ids = env
    queued = ids["task_ids"][3]  # states cycle: succeeded, failed, started, queued, retried
    response = client.post(f"/tasks/{queued}/revoke", headers=csrf_headers(client))
    assert response.status_code == 302 and broker.revoked == [queued]
    finished = client.post(f"/api/tasks/{ids['task_ids'][0]}/revoke", headers=csrf_headers(client))
    assert finished.status_code == 409 and "already ended" in finished.get_json()["error"]


def test_clear_old_runs_keeps_running_ones(client: FlaskClient, env: Any) -> None:
    app, _, ids = env
    with create_session(url_of(app)) as session:
        session.add(SyncRun(account_id=ids["account_id"], trigger="cli", status="running"))
    response = client.post("/api/runs/clear", json={"older_than_days": 0}, headers=csrf_headers(client))
    assert response.status_code == 200 and response.get_json()["deleted"] == 12
    with create_session(url_of(app)) as session:
        left = list(session.scalars(select(SyncRun)))
    assert [run.status for run in left] == ["running"]
    form = client.post("/runs/clear", data={"older_than_days": "30"}, headers=csrf_headers(client))
    assert form.status_code == 302


def test_schedule_changes(client: FlaskClient, env: Any) -> None:
    app, _, ids = env

    def stored() -> Schedule:
        with create_session(url_of(app)) as session:
            found = session.scalars(select(Schedule).where(Schedule.account_id == ids["account_id"])).one()
            session.expunge(found)
            return found

    broker = env[1]
    response = client.post("/schedule", data={"cron": "weekly"}, headers=csrf_headers(client))
    assert response.status_code == 302
    assert stored().cron == "30 3 * * 1" and broker.mirrored == 1
    page = client.get("/schedule").get_data(as_text=True)
    assert "Cron saved." in page and "30 3 * * 1" in page
    client.post("/schedule/disable", headers=csrf_headers(client))
    assert stored().enabled is False
    assert client.get("/api/dashboard").get_json()["next_run"] is None
    client.post("/schedule/enable", headers=csrf_headers(client))
    assert stored().enabled is True
    api = client.put(
        "/api/schedule", json={"cron": "15 */2 * * *", "enabled": False}, headers=csrf_headers(client)
    )
    assert api.status_code == 200
    body = api.get_json()
    assert body["cron"] == "15 */2 * * *" and body["enabled"] is False and body["next_runs"] == []
    assert stored().cron == "15 */2 * * *"
    broker.up = False  # saved anyway (the database is the truth), with a warning
    down = client.post("/api/schedule", json={"cron": "hourly"}, headers=csrf_headers(client))
    assert down.status_code == 200 and "beat restores it" in down.get_json()["warning"]
    assert stored().cron == "0 * * * *"


def test_account_picker(client: FlaskClient, env: Any) -> None:
    app, _, _ = env
    with create_session(url_of(app)) as session:
        make_account(session, "partner", email="partner@example.com")
    page = client.get("/").get_data(as_text=True)
    assert 'id="account-picker"' in page
    response = client.post(
        "/accounts/select", data={"account": "partner", "next": "/activities"}, headers=csrf_headers(client)
    )
    assert response.status_code == 302 and response.location.endswith("/activities")
    assert client.get("/api/dashboard").get_json()["counters"]["total"] == 0
    assert client.get("/api/dashboard?account=default").get_json()["counters"]["total"] == 120
    assert client.get("/api/dashboard?account=ghost").status_code == 404
    unknown = client.post("/accounts/select", data={"account": "ghost"}, headers=csrf_headers(client))
    assert unknown.status_code == 404
    with create_session(url_of(app)) as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 2


def test_unexpected_errors_are_a_clean_500(
    client: FlaskClient, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.web import panels

    def boom(*_args: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(panels, "system", boom)
    page = client.get("/system")
    assert page.status_code == 500 and b"secret internals" not in page.data
    api = client.get("/api/system")
    assert api.status_code == 500 and "server log" in api.get_json()["error"]

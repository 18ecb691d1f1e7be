"""Redis mode against a real redis-server: real Celery messages, real queue lengths, Redis going away.

No worker runs here, so queued messages stay in the queues where the
dashboard counts them; stopping Redis turns every action into a 503 while
the pages keep answering.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from services.web.app import create_app
from services.web.pending import PendingLogin, PendingLogins
from shared.db import create_session
from shared.models import Activity, SyncRun
from shared.runtime import set_runtime
from shared.tokens import TokenCipher
from tests.servers import RedisServer, free_port, redis_binary
from tests.web_factories import BASE_ID, csrf_headers, seed_store, web_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed"),
]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def app(tmp_path: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    settings = web_settings(tmp_path, REDIS_URL=redis_server.url)
    seed_store(settings.database_url, activities=40, runs=3, tasks=10)
    # As in production, the process environment holds the same settings
    # (services.worker.beat reads the process runtime).
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("GARMINSYNC_DATA_DIR", str(settings.data_dir))
    set_runtime(None)
    # The process-wide Celery app was configured by whoever imported it first (here: for a Redis
    # that is gone); the dashboard must use the broker of its own settings.
    import services.worker.celery_app as celery_app

    gone = web_settings(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(celery_app, "app", celery_app.create_celery(gone))
    yield create_app(settings)
    set_runtime(None)


def test_actions_reach_redis_and_queues_are_counted(app: Flask, redis_server: RedisServer) -> None:
    client = app.test_client()
    headers = csrf_headers(client)
    sync = client.post("/api/sync", json={}, headers=headers)
    assert sync.status_code == 202, sync.get_json()
    body = sync.get_json()
    assert body["mode"] == "redis" and body["task_id"]
    retry = client.post(f"/api/activities/{BASE_ID + 35}/retry", headers=headers)
    assert retry.status_code == 202
    direct = redis.Redis.from_url(redis_server.url)
    # The download waits in the store for the workers' dispatcher (none runs here), not in Redis.
    assert direct.llen("sync") == 1 and direct.llen("downloads") == 0
    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        waiting = session.get(Activity, BASE_ID + 35)
        assert waiting is not None and waiting.state == "queued" and waiting.dispatched_at is None

    workers = client.get("/api/workers").get_json()
    assert workers["redis_ok"] is True and workers["queues"] == {"sync": 1, "downloads": 0, "notify": 0}
    assert workers["workers"] == []  # nobody answered the ping
    assert "No worker answered the ping" in client.get("/tasks").get_data(as_text=True)
    assert 'garminsync_queue_length{queue="sync"} 1.0' in client.get("/metrics").get_data(as_text=True)
    assert client.get("/readyz").status_code == 200

    # A schedule change reaches RedBeat at once.
    saved = client.post("/api/schedule", json={"cron": "daily", "enabled": True}, headers=headers)
    assert saved.status_code == 200 and "warning" not in saved.get_json()
    assert direct.keys("garminsync:redbeat*")

    queued_task = "00000003-0000-4000-8000-000000000003"
    revoke = client.post(f"/api/tasks/{queued_task}/revoke", headers=headers)
    assert revoke.status_code == 202

    # Pending MFA logins live in Redis (any gunicorn worker can finish them), encrypted.
    pending = PendingLogins(TokenCipher("k"), redis_server.url)
    key = pending.put(PendingLogin(1, "a@b.c", {"cookie": "sso-secret"}))
    raw: Any = direct.get("garminsync:web:mfa:" + key)
    ttl: Any = direct.ttl("garminsync:web:mfa:" + key)
    assert raw is not None and b"sso-secret" not in raw and 0 < ttl <= 600
    assert pending.get(key) == PendingLogin(1, "a@b.c", {"cookie": "sso-secret"})


def test_redis_going_away_makes_actions_503(app: Flask, redis_server: RedisServer) -> None:
    client = app.test_client()
    headers = csrf_headers(client)
    assert client.get("/api/workers").get_json()["redis_ok"] is True
    redis_server.stop()
    app.extensions["garminsync"].cache.clear()
    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        runs_before = session.query(SyncRun).count()
    started = time.monotonic()
    response = client.post("/api/sync", json={}, headers=headers)
    assert response.status_code == 503 and "cannot reach Redis" in response.get_json()["error"]
    assert time.monotonic() - started < 5
    assert client.post("/sync", headers=headers).status_code == 503
    assert client.post(f"/api/activities/{BASE_ID + 35}/retry", headers=headers).status_code == 503
    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        assert session.query(SyncRun).count() == runs_before
    for url in ("/", "/activities", "/tasks", "/runs", "/schedule", "/system", "/api/system", "/metrics"):
        assert client.get(url).status_code == 200, url
    assert "Redis is unreachable" in client.get("/").get_data(as_text=True)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"] == "unreachable"
    schedule = client.post("/api/schedule", json={"cron": "hourly"}, headers=headers)
    assert schedule.status_code == 200  # the database is the source of truth; beat catches up

"""The dashboard's pages and read API with Flask's test client (Redis mode, fake broker).

Every page and GET endpoint answers on a seeded store; bad input of every kind
gets a clear 4xx (HTML or JSON), never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.web.app import create_app
from shared.redact import mask_url
from tests.web_factories import BASE_ID, FakeBroker, seed_store, web_settings


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, FakeBroker, dict[str, Any]]]:
    tmp_path = tmp_path_factory.mktemp("web-pages")
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    ids = seed_store(settings.database_url)
    broker = FakeBroker()
    app = create_app(settings, broker=broker)
    yield app, broker, ids


@pytest.fixture
def client(seeded: tuple[Flask, FakeBroker, dict[str, Any]]) -> FlaskClient:
    return seeded[0].test_client()


def test_every_page_renders(client: FlaskClient, seeded: tuple[Flask, FakeBroker, dict[str, Any]]) -> None:
    _, _, ids = seeded
    pages = {
        "/": ["Sync now", "Archived", "Recent runs", "chart-months"],
        "/activities": ["Activities", "Morning Run 0", "1\u201350", "of 120"],
        f"/activities/{BASE_ID}": ["Morning Run 0", "SHA-256", "Download file", "Verify"],
        f"/activities/{BASE_ID + 95}": ["Retry", "gave up after 5 attempts"],
        "/tasks": ["Workers online", "celery@worker-1", "download_activity"],
        f"/tasks/{ids['task_ids'][2]}": ["Revoke", "garminsync"],
        "/runs": ["Sync runs", "Clear"],
        f"/runs/{ids['run_ids'][1]}": ["Sync run #", "all good"],
        "/schedule": ["0 */6 * * *", "Next runs", "hourly", "Turn off"],
        "/account": ["Log in to Garmin Connect", "athlete@example.com", "valid"],
        "/system": ["Database", "activities", "Data directory", "30/minute", "Workers online"],
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        for fragment in expected:
            assert fragment in text, (url, fragment)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_explain_local_only_mode(client: FlaskClient) -> None:
    text = client.get("/").get_data(as_text=True)
    assert "No GARMINSYNC_WEB_PASSWORD is set" in text
    assert client.get("/login").status_code == 302  # nothing to log in to


def test_static_files_are_vendored(client: FlaskClient) -> None:
    for path in (
        "/static/vendor/bootstrap/bootstrap.min.css",
        "/static/vendor/bootstrap/bootstrap.bundle.min.js",
        "/static/vendor/chartjs/chart.umd.min.js",
        "/static/app.js",
        "/static/app.css",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()
    html = client.get("/").get_data(as_text=True)
    assert "cdn" not in html.lower() and "https://" not in html


def test_read_api(client: FlaskClient, seeded: tuple[Flask, FakeBroker, dict[str, Any]]) -> None:
    _, _, ids = seeded
    dash = client.get("/api/dashboard").get_json()
    assert dash["counters"] == {"archived": 100, "missing": 12, "failed": 5, "no_file": 3, "total": 120}
    assert dash["schedule"]["enabled"] is True and dash["next_run"]
    assert len(dash["recent_runs"]) == 8 and dash["mode"] == "redis"

    chart = client.get("/api/dashboard/chart").get_json()
    assert len(chart["months"]) == 24
    assert sum(m["archived"] + m["missing"] + m["failed"] + m["no_file"] for m in chart["months"]) > 0

    page = client.get("/api/activities?per_page=10&page=2").get_json()
    assert page["total"] == 120 and page["pages"] == 12 and len(page["items"]) == 10
    assert page["items"][0]["id"] == BASE_ID + 10  # newest first

    running = client.get("/api/activities?type=running&state=downloaded&sort=distance&order=asc").get_json()
    assert running["items"] and all(
        a["type"] == "running" and a["state"] == "downloaded" for a in running["items"]
    )
    distances = [a["distance_m"] for a in running["items"]]
    assert distances == sorted(distances)

    pending = client.get("/api/activities?state=pending&per_page=200").get_json()
    assert pending["total"] == 12 and {a["state"] for a in pending["items"]} == {"missing"}
    by_name = client.get("/api/activities?q=hill+repeats").get_json()
    assert by_name["total"] > 0 and all("Hill Repeats" in a["name"] for a in by_name["items"])
    by_id = client.get(f"/api/activities?q={BASE_ID + 7}").get_json()
    assert [a["id"] for a in by_id["items"]] == [BASE_ID + 7]
    dated = client.get("/api/activities?since=2026-01-01&until=2026-01-05").get_json()
    assert 0 < dated["total"] < 120
    assert client.get("/api/activities?q=100%25").get_json()["total"] == 0  # % is literal, not a wildcard

    detail = client.get(f"/api/activities/{BASE_ID}").get_json()
    assert detail["sha256"] and detail["file_path"].startswith("fit/")
    assert client.get("/api/activity-types").get_json()["items"][0] == "cycling"

    runs = client.get("/api/runs?status=error").get_json()
    assert runs["total"] > 0 and all(r["status"] == "error" for r in runs["items"])
    assert client.get("/api/runs?trigger=web&per_page=5").get_json()["items"][0]["trigger"] == "web"
    assert client.get(f"/api/runs/{ids['run_ids'][1]}").get_json()["message"] == "all good"

    tasks = client.get("/api/tasks?state=failed").get_json()
    assert tasks["total"] == 8 and tasks["items"][0]["error"].startswith("TransientError")
    assert tasks["counts"]["succeeded"] == 8
    found = client.get(f"/api/tasks?q={BASE_ID + 1}").get_json()
    assert found["total"] >= 1
    assert client.get("/api/tasks?name=sync_account").get_json()["total"] == 14
    one = client.get(f"/api/tasks/{ids['task_ids'][1]}").get_json()
    assert one["worker"] == "celery@worker-1" and one["received_at"]

    workers = client.get("/api/workers").get_json()
    assert (
        workers["queues"] == {"sync": 1, "downloads": 5}
        and workers["workers"][0]["name"] == "celery@worker-1"
    )

    schedule = client.get("/api/schedule").get_json()
    assert (
        schedule["cron"] == "0 */6 * * *"
        and len(schedule["next_runs"]) == 5
        and "hourly" in schedule["presets"]
    )
    preview = client.get("/api/schedule/preview?cron=30+3+*+*+1").get_json()
    assert preview["valid"] and "Monday" in preview["description"] and len(preview["next_runs"]) == 5
    assert client.get("/api/schedule/preview?cron=daily").get_json()["cron"] == "30 3 * * *"

    account = client.get("/api/account").get_json()
    assert account["token_state"] == "valid" and account["pending_mfa"] is False
    assert client.get("/api/accounts").get_json()["items"][0]["name"] == "default"
    session = client.get("/api/session").get_json()
    assert session == {"logged_in": True, "password_set": False, "mode": "redis", "account": "default"}

    system = client.get("/api/system").get_json()
    app = seeded[0]
    assert system["database"]["rows"]["activities"] == 120
    assert system["database"]["url"] == mask_url(app.extensions["garminsync"].settings.database_url)
    assert system["database"]["size_bytes"] > 0 and system["data_dir"]["disk"]["free"] > 0
    assert system["rate_limit"]["limit"] == "30/minute"
    assert system["last_errors"]["activities"] and system["last_errors"]["tasks"]


def test_health_and_metrics(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"ok": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    text = client.get("/metrics").get_data(as_text=True)
    assert 'garminsync_activities{account="default",state="downloaded"} 100.0' in text
    assert 'garminsync_queue_length{queue="downloads"} 5.0' in text
    assert 'garminsync_task_runtime_seconds_count{name="garminsync.download_activity"}' in text
    assert "garminsync_workers_online 1.0" in text
    assert 'garminsync_sync_runs{status="error"}' in text
    assert "garminsync_store_up 1.0" in text


BAD_GETS = [
    ("/activities?since=2026-13-01", 400, "since must be a date"),
    ("/activities?since=yesterday", 400, "since must be a date"),
    ("/activities?since=2026-02-01&until=2026-01-01", 400, "is after until"),
    ("/activities?page=0", 400, "page must be between"),
    ("/activities?page=abc", 400, "page must be a whole number"),
    ("/activities?page=99999", 404, "does not exist"),
    ("/activities?per_page=5000", 400, "per_page must be between"),
    ("/activities?state=lost", 400, "state must be one of"),
    ("/activities?sort=password", 400, "sort must be one of"),
    ("/activities?order=sideways", 400, "order must be one of"),
    ("/activities?q=" + "x" * 101, 400, "q is too long"),
    ("/activities?q=a%00b", 400, "control characters"),
    ("/activities/abc", 400, "is not an activity id"),
    ("/activities/12", 404, "no activity 12"),
    ("/activities/99999999999999999999999", 400, "is not an activity id"),
    ("/activities/-5", 400, "is not an activity id"),
    ("/activities/12/file", 404, "no activity 12"),
    (f"/activities/{BASE_ID + 90}/file", 404, "has no archived file"),
    (f"/activities/{BASE_ID}/file", 404, "not on disk"),
    ("/runs?status=weird", 400, "status must be one of"),
    ("/runs?trigger=cron", 400, "trigger must be one of"),
    ("/runs?until=31-01-2026", 400, "until must be a date"),
    ("/runs/abc", 400, "is not a sync run id"),
    ("/runs/424242", 404, "no sync run 424242"),
    ("/runs/99999999999999999999", 404, "no sync run"),
    ("/tasks?state=bogus", 400, "state must be one of"),
    ("/tasks/not-a-task", 404, "no task"),
    ("/tasks/" + "a" * 80, 404, "no task"),
    ("/tasks/a%27b", 404, "no task"),
    ("/nowhere", 404, "was not found"),
]


@pytest.mark.parametrize(("url", "status", "message"), BAD_GETS)
def test_bad_input_pages_are_4xx(client: FlaskClient, url: str, status: int, message: str) -> None:
    response = client.get(url)
    assert response.status_code == status
    text = response.get_data(as_text=True)
    assert message in text
    assert "Traceback" not in text


@pytest.mark.parametrize(("url", "status", "message"), BAD_GETS)
def test_bad_input_api_is_json_4xx(client: FlaskClient, url: str, status: int, message: str) -> None:
    response = client.get("/api" + url)
    assert response.status_code == status
    body = response.get_json()
    assert body["status"] == status and message in body["error"]


def test_bad_api_bodies(client: FlaskClient) -> None:
    from tests.web_factories import csrf_headers

    headers = csrf_headers(client)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/api/schedule", {"data": "[1, 2]", "content_type": "application/json"}, 400, "must be an object"),
        ("/api/schedule", {"data": "{nope", "content_type": "application/json"}, 400, "not valid JSON"),
        ("/api/schedule", {"json": {"cron": "61 * * * *"}}, 400, "not a valid cron"),
        ("/api/schedule", {"json": {"cron": "every day"}}, 400, "use five fields"),
        ("/api/schedule", {"json": {}}, 400, "give a cron expression"),
        ("/api/schedule", {"json": {"enabled": "perhaps"}}, 400, "enabled must be true or false"),
        ("/api/runs/clear", {"json": {"older_than_days": -1}}, 400, "older_than_days must be between"),
        ("/api/runs/clear", {"json": {"older_than_days": "soon"}}, 400, "whole number"),
        ("/api/sync", {"json": {"full": "maybe"}}, 400, "full must be true or false"),
        ("/api/activities/enqueue", {"json": {"since": "2026-02-30"}}, 400, "since must be a date"),
        ("/api/activities/nope/retry", {}, 400, "is not an activity id"),
        ("/api/activities/12/retry", {}, 400, "unknown activity id"),
        ("/api/activities/12/verify", {}, 404, "no activity 12"),
        ("/api/tasks/nope/revoke", {}, 404, "no task"),
        ("/api/account/login", {"json": {"email": "nobody"}}, 400, "email address"),
        ("/api/account/login", {"json": {"email": "a@b.c"}}, 400, "Garmin password"),
        ("/api/account/mfa", {"json": {"code": "12ab"}}, 400, "security code"),
        ("/api/account/mfa", {"json": {"code": "123456"}}, 400, "has expired"),
    ]
    for url, kwargs, status, message in cases:
        response = client.post(url, headers=headers, **kwargs)
        assert response.status_code == status, (url, kwargs, response.get_data(as_text=True))
        assert message in response.get_json()["error"], (url, response.get_json())
    assert client.get("/api/schedule/preview").status_code == 400
    wrong = client.get("/api/schedule/preview?cron=99+*+*+*+*").get_json()
    assert wrong["valid"] is False and "not a valid cron" in wrong["error"]
    assert client.get("/sync").status_code == 405


def test_wrong_cron_in_the_form_is_shown_back(client: FlaskClient) -> None:
    from tests.web_factories import csrf_headers

    response = client.post("/schedule", data={"cron": "0 25 * * *"}, headers=csrf_headers(client))
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "is not a valid cron expression" in text and 'value="0 25 * * *"' in text

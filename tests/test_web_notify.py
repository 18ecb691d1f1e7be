"""The dashboard's notifications and statistics (Flask test client, logged in with a password,
CSRF as a browser sends it): the account's own URLs, the test button, the deliveries and
failures, the token expiry, the Stats page. A real local receiver takes the messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.web.app import create_app
from shared.db import create_session
from shared.models import Account
from tests.receiver import Receiver
from tests.web_factories import FakeBroker, seed_store, web_settings

WEB_PASSWORD = "open-sesame-42"
ACCOUNT_HOOK_SECRET = "acct-s3cret-token-77"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def app(tmp_path: Any) -> Flask:
    settings = web_settings(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:9/0",
        GARMINSYNC_WEB_PASSWORD=WEB_PASSWORD,
        GARMINSYNC_TOKEN_WARN_DAYS="10",
    )
    ids = seed_store(settings.database_url, activities=300, runs=5, tasks=5)
    with create_session(settings.database_url) as session:
        account = session.get(Account, ids["account_id"])
        assert account is not None
        account.refresh_expires_at = datetime.now(UTC) + timedelta(days=6, hours=2)
    return create_app(settings, broker=FakeBroker())


def logged_in(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = client.get("/api/csrf").get_json()["csrf_token"]
    assert client.post("/login", data={"password": WEB_PASSWORD, "csrf_token": token}).status_code == 302
    return client, client.get("/api/csrf").get_json()["csrf_token"]  # the login began a new session


def account_url(receiver: Receiver) -> str:
    return f"json://acct:{ACCOUNT_HOOK_SECRET}@127.0.0.1:{receiver.port}/account-hook"


def test_account_urls_test_button_and_the_failures_shown(app: Flask, receiver: Receiver) -> None:
    client, token = logged_in(app)
    page = client.get("/account").get_data(as_text=True)
    assert "none (GARMINSYNC_NOTIFY_URLS)" in page
    assert re.search(r'id="notify-test"\s+disabled', page)  # nowhere to send to

    no_csrf = client.post("/account/notifications", data={"urls": account_url(receiver)})
    assert no_csrf.status_code == 400
    bad = client.post("/account/notifications", data={"urls": "nonsense://x", "csrf_token": token})
    assert bad.status_code == 400, bad.get_data(as_text=True)[-1500:]
    assert "is not a notification URL" in bad.get_data(as_text=True)

    saved = client.post("/account/notifications", data={"urls": account_url(receiver), "csrf_token": token})
    assert saved.status_code == 302
    page = client.get("/account").get_data(as_text=True)
    assert f"json://127.0.0.1:{receiver.port}/…" in page
    assert ACCOUNT_HOOK_SECRET not in page
    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        stored = session.query(Account).one().notify_urls_blob
    assert stored is not None and ACCOUNT_HOOK_SECRET.encode() not in stored  # encrypted

    sent = client.post("/account/notifications/test", data={"csrf_token": token})
    assert sent.status_code == 302
    (message,) = receiver.wait_for(1)
    assert message.path == "/account-hook" and message.title == "GarminSync: test notification (default)"

    receiver.status = 500
    failed = client.post("/account/notifications/test", data={"csrf_token": token})
    assert failed.status_code == 503
    text = failed.get_data(as_text=True)
    assert "the test notification was not delivered" in text and "500" in text
    page = client.get("/account").get_data(as_text=True)
    assert 'id="notify-failed">1 failed' in page
    assert page.count('data-status="failed"') == 1 and page.count('data-status="sent"') == 1
    api = client.get("/api/notifications").get_json()
    assert [row["status"] for row in api["notifications"]["recent"]] == ["failed", "sent"]
    for text in (page, str(api)):
        assert ACCOUNT_HOOK_SECRET not in text

    removed = client.post("/account/notifications", data={"remove": "1", "csrf_token": token})
    assert removed.status_code == 302
    assert client.get("/api/notifications").get_json()["notifications"]["account_targets"] == []


def test_the_account_page_shows_when_a_new_login_is_due(app: Flask) -> None:
    client, _token = logged_in(app)
    page = client.get("/account").get_data(as_text=True)
    due = (datetime.now(UTC) + timedelta(days=6, hours=2)).strftime("%Y-%m-%d")
    match = re.search(r'id="token-expiry">\s*(.*?)</dd>', page, re.S)
    assert match is not None and " ".join(match.group(1).split()) == f"{due} (in 6 days)"
    assert "text-warning-emphasis" in page  # within GARMINSYNC_TOKEN_WARN_DAYS (10)
    expiry = client.get("/api/notifications").get_json()["token_expiry"]
    assert expiry["days_left"] == 6 and expiry["warn"] is True


def test_the_stats_page_totals_per_year_month_and_type(app: Flask) -> None:
    client, _token = logged_in(app)
    assert 'href="/stats"' in client.get("/").get_data(as_text=True)  # in the navigation
    for by in ("year", "month", "type"):
        page = client.get(f"/stats?by={by}")
        assert page.status_code == 200
        data = client.get(f"/api/stats?by={by}").get_json()
        assert data["total"]["count"] == 300 == sum(row["count"] for row in data["rows"])
        text = page.get_data(as_text=True)
        for row in data["rows"]:
            assert f"<td>{row['key']}</td>" in text
    assert client.get("/stats?by=week").status_code == 400

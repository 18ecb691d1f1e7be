"""Login, CSRF, loopback-only without a password, and no secret on any page or API answer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.web.app import create_app
from shared.accounts import AccountTokens
from shared.db import create_session
from shared.models import Account
from shared.runtime import Runtime
from shared.tokens import Tokens
from tests.conftest import assert_no_secret
from tests.web_factories import BASE_ID, FakeBroker, csrf_headers, seed_store, web_settings

WEB_PASSWORD = "open-sesame-42"
GARMIN_PASSWORD = "garmin-pa55word-xyz"
SECRET_KEY = "fernet-passphrase-zzz"
DI_TOKEN = "di-access-token-SECRET-abc"
REFRESH = "di-refresh-token-SECRET-def"


def tokens_json(di_token: str, refresh: str, client_id: str) -> str:
    """Token JSON as garminconnect writes it."""
    return json.dumps({"di_token": di_token, "di_refresh_token": refresh, "di_client_id": client_id})


@pytest.fixture
def app(tmp_path: Any) -> Flask:
    settings = web_settings(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:9/0",
        GARMINSYNC_WEB_PASSWORD=WEB_PASSWORD,
        GARMIN_EMAIL="athlete@example.com",
        GARMIN_PASSWORD=GARMIN_PASSWORD,
        GARMINSYNC_SECRET_KEY=SECRET_KEY,
    )
    ids = seed_store(settings.database_url, activities=30, runs=5, tasks=5)
    AccountTokens(settings, Runtime.build(settings).cipher, ids["account_id"]).save(
        Tokens(tokens_json(DI_TOKEN, REFRESH, "client-id"))
    )
    return create_app(settings, broker=FakeBroker())


def login(client: FlaskClient, password: str = WEB_PASSWORD, next_url: str = "/") -> Any:
    token = client.get("/api/csrf").get_json()["csrf_token"]
    return client.post("/login", data={"password": password, "next": next_url, "csrf_token": token})


def test_pages_need_a_login(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/activities?state=failed")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=/activities")
    api = client.get("/api/dashboard")
    assert api.status_code == 401 and "log in" in api.get_json()["error"]
    assert client.post("/api/sync", json={}, headers=csrf_headers(client)).status_code == 401
    for public in ("/healthz", "/readyz", "/login", "/static/app.css"):
        assert client.get(public).status_code == 200, public
    assert client.get("/metrics").status_code == 401  # account names: a login or the metrics token


def test_wrong_password_then_right_one(app: Flask) -> None:
    client = app.test_client()
    wrong = login(client, "guess")
    assert wrong.status_code == 401 and "Wrong password." in wrong.get_data(as_text=True)
    right = login(client, next_url="/runs")
    assert right.status_code == 302 and right.location == "/runs"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and cookie.startswith("garminsync_session=")
    assert client.get("/").status_code == 200
    assert "Log out" in client.get("/").get_data(as_text=True)
    logout = client.post("/logout", headers=csrf_headers(client))
    assert logout.status_code == 302
    assert client.get("/").status_code == 302


def test_guessing_is_slowed_down(app: Flask) -> None:
    client = app.test_client()
    for _ in range(5):
        assert login(client, "guess").status_code == 401
    blocked = login(client)  # even the right password waits now
    assert blocked.status_code == 429 and "Too many wrong passwords" in blocked.get_data(as_text=True)
    other = app.test_client()
    token = other.get("/api/csrf").get_json()["csrf_token"]
    elsewhere = other.post(
        "/login",
        data={"password": WEB_PASSWORD, "csrf_token": token},
        environ_overrides={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert elsewhere.status_code == 302  # the throttle is per address


def test_next_cannot_leave_the_site(app: Flask) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = login(app.test_client(), next_url=target)
        assert response.status_code == 302 and response.location == "/", target


def test_csrf_is_required_on_every_post(app: Flask) -> None:
    client = app.test_client()
    login(client)
    posts = [
        "/sync",
        "/logout",
        "/accounts/select",
        "/activities/enqueue",
        f"/activities/{BASE_ID}/retry",
        f"/activities/{BASE_ID}/verify",
        "/tasks/x/revoke",
        "/runs/clear",
        "/schedule",
        "/schedule/enable",
        "/schedule/disable",
        "/account/login",
        "/account/mfa",
        "/account/cancel",
        "/api/sync",
        "/api/logout",
        "/api/activities/enqueue",
        f"/api/activities/{BASE_ID}/retry",
        "/api/runs/clear",
        "/api/schedule",
        "/api/account/login",
    ]
    for url in posts:
        response = client.post(url, data={"full": "1"})
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True), url
    bad_token = client.post("/api/sync", json={}, headers={"X-CSRFToken": "forged"})
    assert bad_token.status_code == 400 and "X-CSRFToken" in bad_token.get_json()["error"]
    good = client.post("/api/sync", json={}, headers=csrf_headers(client))
    assert good.status_code == 202
    # The token in the page works for forms too.
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    assert client.post("/sync", data={"csrf_token": token.group(1)}).status_code == 302


def test_api_login_for_scripts(app: Flask) -> None:
    client = app.test_client()
    token = client.get("/api/csrf").get_json()["csrf_token"]
    refused = client.post("/api/login", json={"password": "nope"}, headers={"X-CSRFToken": token})
    assert refused.status_code == 401
    ok = client.post("/api/login", json={"password": WEB_PASSWORD}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.get_json()["csrf_token"]
    assert client.get("/api/dashboard").status_code == 200
    assert client.get("/api/session").get_json()["logged_in"] is True
    client.post("/api/logout", headers={"X-CSRFToken": ok.get_json()["csrf_token"]})
    assert client.get("/api/dashboard").status_code == 401


def test_secrets_never_reach_a_page_or_the_api(app: Flask) -> None:
    client = app.test_client()
    login(client)
    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        account = session.query(Account).one()
        assert account.token_blob
        assert_no_secret({DI_TOKEN, REFRESH}, "the token column", account.token_blob)
    urls = [
        "/",
        "/activities",
        f"/activities/{BASE_ID}",
        "/tasks",
        "/runs",
        "/schedule",
        "/account",
        "/system",
        "/api/dashboard",
        "/api/dashboard/chart",
        "/api/activities",
        f"/api/activities/{BASE_ID}",
        "/api/tasks",
        "/api/runs",
        "/api/workers",
        "/api/schedule",
        "/api/account",
        "/api/accounts",
        "/api/system",
        "/api/session",
        "/metrics",
        "/readyz",
        "/healthz",
    ]
    secrets = [WEB_PASSWORD, GARMIN_PASSWORD, SECRET_KEY, DI_TOKEN, REFRESH, "token_blob"]
    for url in urls:
        text = client.get(url).get_data(as_text=True)
        for secret in secrets:
            assert secret not in text, (url, secret)
    cookie = client.get_cookie("garminsync_session")
    assert cookie is not None
    for secret in secrets:
        assert secret not in cookie.value


def test_without_password_only_loopback_is_served(tmp_path: Any) -> None:
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    broker = FakeBroker()
    app = create_app(settings, broker=broker)
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/", environ_overrides={"REMOTE_ADDR": "::1"}).status_code == 200
    remote = {"REMOTE_ADDR": "192.168.1.20"}
    page = client.get("/", environ_overrides=remote)
    assert page.status_code == 403 and "GARMINSYNC_WEB_PASSWORD" in page.get_data(as_text=True)
    api = client.get("/api/dashboard", environ_overrides=remote)
    assert api.status_code == 403 and "only answers on the machine" in api.get_json()["error"]
    # Even with a valid CSRF token (taken locally), a remote POST is refused before any action runs.
    post = client.post("/api/sync", json={}, headers=csrf_headers(client), environ_overrides=remote)
    assert post.status_code == 403 and "only answers on the machine" in post.get_json()["error"]
    assert broker.syncs == []
    assert client.get("/healthz", environ_overrides=remote).status_code == 200
    assert client.get("/metrics", environ_overrides=remote).status_code == 403  # account names


def test_in_a_container_the_hosts_own_connections_count_as_local(tmp_path: Any) -> None:
    from services.web.auth import container_gateways, is_local

    marker = tmp_path / ".dockerenv"
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\n"
        "eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
    )
    assert container_gateways((marker,), routes) == frozenset()  # not in a container
    marker.touch()
    gateways = container_gateways((marker,), routes)
    assert gateways == frozenset({"172.18.0.1"})
    assert is_local("172.18.0.1", gateways) and is_local("127.0.0.1", gateways)
    assert not is_local("192.168.1.20", gateways) and not is_local(None, gateways)

    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    app = create_app(settings, broker=FakeBroker())
    app.extensions["garminsync"].local_gateways = gateways
    client = app.test_client()
    assert client.get("/", environ_overrides={"REMOTE_ADDR": "172.18.0.1"}).status_code == 200
    assert client.get("/", environ_overrides={"REMOTE_ADDR": "172.18.0.7"}).status_code == 403

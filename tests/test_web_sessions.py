"""Logins the server can end, and a guessing limit every web worker shares.

Two apps over one store stand for two gunicorn workers; with Redis they share
a real redis-server, as in the stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.web.app import create_app
from tests.web_factories import FakeBroker, csrf_headers, seed_store, web_settings

PASSWORD = "sessions-test-password"
COOKIE = "garminsync_session"


def make_apps(tmp_path: Path, count: int = 1, **env: str) -> list[Flask]:
    settings = web_settings(tmp_path, GARMINSYNC_WEB_PASSWORD=PASSWORD, **env)
    seed_store(settings.database_url, activities=5, runs=1, tasks=1)
    return [create_app(settings, broker=FakeBroker()) for _ in range(count)]


def login(client: FlaskClient, password: str = PASSWORD, client_addr: str = "127.0.0.1") -> Any:
    token = client.get("/api/csrf").get_json()["csrf_token"]
    return client.post(
        "/api/login",
        json={"password": password},
        headers={"X-CSRFToken": token},
        environ_overrides={"REMOTE_ADDR": client_addr},
    )


def copy_of_cookie(source: FlaskClient, target: FlaskClient) -> FlaskClient:
    """What a stolen (or synced, or backed-up) copy of the session cookie does elsewhere."""
    cookie = source.get_cookie(COOKIE)
    assert cookie is not None
    target.set_cookie(COOKIE, cookie.value)
    return target


def test_logout_ends_the_session_everywhere(tmp_path: Path) -> None:
    """Logging out left the cookie valid for 7 days wherever a copy of it was."""
    (app,) = make_apps(tmp_path)
    browser = app.test_client()
    assert login(browser).status_code == 200
    copy = copy_of_cookie(browser, app.test_client())
    assert copy.get("/api/dashboard").status_code == 200
    assert browser.post("/logout", headers=csrf_headers(browser)).status_code == 302
    assert copy.get("/api/dashboard").status_code == 401
    assert copy.get("/").status_code == 302  # to the login page
    again = app.test_client()
    assert login(again).status_code == 200 and again.get("/api/dashboard").status_code == 200


def test_api_logout_too(tmp_path: Path) -> None:
    (app,) = make_apps(tmp_path)
    script = app.test_client()
    token = login(script).get_json()["csrf_token"]
    copy = copy_of_cookie(script, app.test_client())
    assert script.post("/api/logout", headers={"X-CSRFToken": token}).status_code == 200
    assert copy.get("/api/dashboard").status_code == 401


def test_a_new_password_ends_every_login(tmp_path: Path) -> None:
    (app,) = make_apps(tmp_path)
    browser = app.test_client()
    assert login(browser).status_code == 200
    changed = create_app(
        web_settings(tmp_path, GARMINSYNC_WEB_PASSWORD="a-new-password"), broker=FakeBroker()
    )
    assert copy_of_cookie(browser, changed.test_client()).get("/api/dashboard").status_code == 401


def test_a_throttled_client_does_not_lock_out_another(tmp_path: Path) -> None:
    (app,) = make_apps(tmp_path)
    guesser, owner = app.test_client(), app.test_client()
    for _ in range(5):
        assert login(guesser, "guess", "198.51.100.7").status_code == 401
    assert login(guesser, PASSWORD, "198.51.100.7").status_code == 429  # locked, even when right
    assert login(owner, PASSWORD, "192.0.2.10").status_code == 200  # someone else's lock


def test_a_redis_that_does_not_answer_refuses_no_right_password(tmp_path: Path) -> None:
    (app,) = make_apps(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    client = app.test_client()
    for _ in range(4):
        assert login(client, "guess").status_code == 401
    assert login(client).status_code == 200
    assert client.get("/api/dashboard").status_code == 200  # the signed login holds meanwhile


@pytest.mark.integration
def test_workers_share_logins_and_the_guess_count(tmp_path: Path, redis_url: str) -> None:
    """Per-process counts let two gunicorn workers take ten guesses; logouts stayed in one worker."""
    first, second = make_apps(tmp_path, 2, REDIS_URL=redis_url)
    browser = first.test_client()
    assert login(browser).status_code == 200
    elsewhere = copy_of_cookie(browser, second.test_client())
    assert elsewhere.get("/api/dashboard").status_code == 200
    assert browser.post("/logout", headers=csrf_headers(browser)).status_code == 302
    assert elsewhere.get("/api/dashboard").status_code == 401  # the other worker knows

    guesser_one, guesser_two = first.test_client(), second.test_client()
    for client in (guesser_one, guesser_two, guesser_one, guesser_two, guesser_one):
        assert login(client, "guess", "203.0.113.9").status_code == 401
    for client in (guesser_one, guesser_two):
        blocked = login(client, "guess", "203.0.113.9")
        assert blocked.status_code == 429 and "Too many wrong passwords" in blocked.get_json()["error"]
    assert login(second.test_client(), PASSWORD, "192.0.2.10").status_code == 200


def test_the_cookie_is_secure_when_served_over_https(tmp_path: Path) -> None:
    (plain,) = make_apps(tmp_path / "plain")
    cookie = login(plain.test_client()).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" not in cookie  # plain http://127.0.0.1 keeps working
    (behind_tls,) = make_apps(tmp_path / "tls", GARMINSYNC_WEB_SECURE_COOKIE="true")
    cookie = login(behind_tls.test_client()).headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_secure_setting_is_a_boolean(tmp_path: Path) -> None:
    from shared.config import load_settings
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="GARMINSYNC_WEB_SECURE_COOKIE must be true or false"):
        load_settings(environ={"GARMINSYNC_WEB_SECURE_COOKIE": "sometimes"}, env_file=tmp_path / "none")

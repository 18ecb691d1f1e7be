"""What the dashboard refuses before any view runs: foreign host names (DNS rebinding),
cross-site state changes, hostile request shapes — and what it shows without a login."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from services.web.app import create_app
from shared.config import load_settings
from shared.errors import ConfigError
from tests.web_factories import FakeBroker, csrf_headers, seed_store, web_settings

PASSWORD = "guard-test-password"


def make_app(tmp_path: Path, **env: str) -> Flask:
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0", **env)
    seed_store(settings.database_url, activities=10, runs=2, tasks=2)
    return create_app(settings, broker=FakeBroker())


def test_without_a_password_only_loopback_host_names_are_answered(tmp_path: Path) -> None:
    """`curl -H 'Host: attacker.example:PORT' http://127.0.0.1:PORT/api/system` got the system page."""
    app = make_app(tmp_path)
    client = app.test_client()
    rebound = {"Host": "attacker.example:8080"}
    for url in ("/", "/api/system", "/api/csrf", "/system"):
        response = client.get(url, headers=rebound)
        assert response.status_code == 403, url
        assert "localhost" in response.get_data(as_text=True), url
    assert "database" not in client.get("/api/system", headers=rebound).get_json()
    for host in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost", "dash.localhost:8080"):
        assert client.get("/api/system", headers={"Host": host}).status_code == 200, host
    assert client.get("/healthz", headers=rebound).status_code == 200  # no data


def test_a_rebound_page_cannot_change_anything(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    client = app.test_client()
    rebound = {"Host": "attacker.example:8080", "Origin": "http://attacker.example:8080"}
    token = client.get("/api/csrf").get_json()["csrf_token"]
    changed = client.post("/api/schedule", json={"cron": "hourly"}, headers={**rebound, "X-CSRFToken": token})
    assert changed.status_code == 403
    # From another site to the real name: refused too, before the action.
    elsewhere = {"Origin": "https://evil.example", "X-CSRFToken": token}
    assert client.post("/api/schedule", json={"cron": "hourly"}, headers=elsewhere).status_code == 403
    assert client.get("/api/schedule").get_json()["cron"] == "0 */6 * * *"
    own = {"Origin": "http://127.0.0.1:8080", "X-CSRFToken": token}
    assert client.post("/api/schedule", json={"cron": "hourly"}, headers=own).status_code == 200
    assert client.get("/api/schedule").get_json()["cron"] == "0 * * * *"


def test_with_a_password_the_allowed_hosts_setting_decides(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        GARMINSYNC_WEB_PASSWORD=PASSWORD,
        GARMINSYNC_WEB_ALLOWED_HOSTS="garmin.example.org, .home.arpa",
    )
    client = app.test_client()
    for host, status in (
        ("garmin.example.org", 200),
        ("GARMIN.example.org:443", 200),
        ("nas.home.arpa:8080", 200),
        ("localhost:8080", 200),
        ("attacker.example", 403),
        ("example.org", 403),
    ):
        assert client.get("/login", headers={"Host": host}).status_code == status, host
    open_app = make_app(tmp_path / "open", GARMINSYNC_WEB_PASSWORD=PASSWORD)
    assert open_app.test_client().get("/login", headers={"Host": "any.example"}).status_code == 200


@pytest.mark.parametrize("value", ["https://garmin.example.org", "garmin.example.org:8080", "a/b"])
def test_allowed_hosts_are_host_names(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="GARMINSYNC_WEB_ALLOWED_HOSTS"):
        load_settings(environ={"GARMINSYNC_WEB_ALLOWED_HOSTS": value}, env_file=tmp_path / "none")


def test_csrf_helper_is_same_origin(tmp_path: Path) -> None:
    """The test client's own requests (Host localhost, no Origin) pass: nothing else broke."""
    client = make_app(tmp_path).test_client()
    assert client.post("/api/sync", json={}, headers=csrf_headers(client)).status_code == 202


METRICS_TOKEN = "prometheus-scrape-token-0123456789"


def two_accounts(app: Flask) -> None:
    from shared.db import create_session
    from tests.web_factories import make_account

    with create_session(app.extensions["garminsync"].settings.database_url) as session:
        make_account(session, "club-secret-name")


def test_metrics_need_a_login_or_the_token(tmp_path: Path) -> None:
    app = make_app(tmp_path, GARMINSYNC_WEB_PASSWORD=PASSWORD, GARMINSYNC_METRICS_TOKEN=METRICS_TOKEN)
    client = app.test_client()
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert "garminsync_activities" not in anonymous.get_data(as_text=True)
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401
    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}", "Host": "garminsync-web:8080"}
    scraped = client.get("/metrics", headers=scrape, environ_overrides={"REMOTE_ADDR": "10.0.0.9"})
    assert scraped.status_code == 200 and 'garminsync_activities{account="default"' in scraped.get_data(
        as_text=True
    )
    token = client.get("/api/csrf").get_json()["csrf_token"]
    client.post("/api/login", json={"password": PASSWORD}, headers={"X-CSRFToken": token})
    assert client.get("/metrics").status_code == 200


def test_without_a_password_metrics_are_local_unless_the_token_is_sent(tmp_path: Path) -> None:
    app = make_app(tmp_path, GARMINSYNC_METRICS_TOKEN=METRICS_TOKEN)
    client = app.test_client()
    remote = {"REMOTE_ADDR": "192.168.1.20"}
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", environ_overrides=remote).status_code == 403
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/metrics", headers=bearer, environ_overrides=remote).status_code == 200


def test_a_short_metrics_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GARMINSYNC_METRICS_TOKEN"):
        load_settings(environ={"GARMINSYNC_METRICS_TOKEN": "short"}, env_file=tmp_path / "none")


def test_error_pages_show_no_data_before_a_login(tmp_path: Path) -> None:
    app = make_app(tmp_path, GARMINSYNC_WEB_PASSWORD=PASSWORD)
    two_accounts(app)
    client = app.test_client()
    refused = client.post("/login", data={"password": "x"})  # no CSRF token: a 400 page
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    for data in ("club-secret-name", 'id="mode-badge"', "Embedded mode", "Log out", "Redis is unreachable"):
        assert data not in page, data
    foreign = client.get("/login", headers={"Host": "attacker.example"})
    assert foreign.status_code == 200  # with a password and no list, any host name
    assert "club-secret-name" not in client.get("/login").get_data(as_text=True)


def test_json_nested_past_the_parser_is_a_400_before_a_login(tmp_path: Path) -> None:
    app = make_app(tmp_path, GARMINSYNC_WEB_PASSWORD=PASSWORD)
    client = app.test_client()
    deep = "[" * 100_000 + "]" * 100_000
    headers = {**csrf_headers(client), "Content-Type": "application/json"}
    response = client.post("/api/login", data=deep, headers=headers)
    assert response.status_code == 400 and "nested too deeply" in response.get_json()["error"]
    wrapped = '{"password": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert client.post("/api/login", data=wrapped, headers=headers).status_code == 400


def test_control_characters_in_next_are_a_400_before_the_action(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    broker: FakeBroker = app.extensions["garminsync"].broker
    client = app.test_client()
    token = csrf_headers(client)["X-CSRFToken"]
    injected = "/runs\r\nSet-Cookie: planted=1"
    response = client.post("/sync", data={"csrf_token": token, "next": injected})
    assert response.status_code == 400 and "next" in response.get_data(as_text=True)
    assert broker.syncs == []  # nothing ran
    deep = client.post(
        "/api/schedule",
        data="{" + '"a":{' * 5000 + "}" * 5001,
        headers={"X-CSRFToken": token},
        content_type="application/json",
    )
    assert deep.status_code == 400 and client.get("/api/schedule").get_json()["cron"] == "0 */6 * * *"
    assert client.get("/login?next=/x%0d%0aSet-Cookie:%20a=b").status_code == 400
    assert client.post("/sync", data={"csrf_token": token, "next": "/runs"}).status_code == 302
    assert len(broker.syncs) == 1


def test_a_proxy_in_front_of_a_password_less_dashboard_is_refused(tmp_path: Path) -> None:
    """nginx's default `Host: 127.0.0.1:8080` from a proxy on this machine would look local."""
    client = make_app(tmp_path).test_client()
    via_proxy = {"Host": "127.0.0.1:8080", "X-Forwarded-For": "203.0.113.5"}
    response = client.get("/api/system", headers=via_proxy)
    assert response.status_code == 403 and "reverse proxy" in response.get_json()["error"]
    assert client.get("/", headers={"X-Real-IP": "203.0.113.5"}).status_code == 403
    protected = make_app(tmp_path / "pw", GARMINSYNC_WEB_PASSWORD=PASSWORD).test_client()
    assert protected.get("/login", headers=via_proxy).status_code == 200

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

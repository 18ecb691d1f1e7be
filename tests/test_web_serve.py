"""Serving the dashboard: the bind rule, gunicorn for real, and the WSGI module."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from services.web.app import absolute_database_url
from services.web.hosts import is_loopback_host
from services.web.serve import check_bind, gunicorn_options, serve
from shared.errors import UsageError
from tests.servers import free_port, wait_for_port
from tests.web_factories import web_settings

ROOT = Path(__file__).resolve().parents[1]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GARMIN", "REDIS_URL", "DATABASE_URL"))
    }
    env.update(
        {"GARMINSYNC_DATA_DIR": str(tmp_path / "data"), "GARMINSYNC_ENV_FILE": str(tmp_path / "none.env")}
    )
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.3.4.5", True),
        ("0.0.0.0", False),  # noqa: S104
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_bind_rule(tmp_path: Path) -> None:
    open_settings = web_settings(tmp_path)
    check_bind("127.0.0.1", open_settings)
    with pytest.raises(UsageError, match="GARMINSYNC_WEB_PASSWORD"):
        check_bind("0.0.0.0", open_settings)  # noqa: S104
    check_bind("0.0.0.0", web_settings(tmp_path, GARMINSYNC_WEB_PASSWORD="pw"))  # noqa: S104


def test_serve_refuses_the_network_without_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in clean_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GARMINSYNC_WEB_PASSWORD", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        serve(host="0.0.0.0", port=free_port())  # noqa: S104
    assert exit_info.value.code == 2
    assert "refusing to listen on 0.0.0.0 without a dashboard password" in capsys.readouterr().err


def test_gunicorn_options(tmp_path: Path) -> None:
    embedded = gunicorn_options("127.0.0.1", 8080, web_settings(tmp_path))
    assert embedded["bind"] == "127.0.0.1:8080" and embedded["workers"] == 1
    redis = gunicorn_options("::1", 9000, web_settings(tmp_path, REDIS_URL="redis://localhost:6379/0"))
    assert redis["bind"] == "[::1]:9000" and redis["workers"] == 2


def test_relative_sqlite_paths_match_the_rest_of_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_database_url("sqlite:///rel/garmin.db") == f"sqlite:///{tmp_path}/rel/garmin.db"
    assert absolute_database_url("sqlite:////abs/garmin.db") == "sqlite:////abs/garmin.db"
    assert absolute_database_url("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


def test_gunicorn_serves_the_dashboard(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.web", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert health.json() == {"ok": True}
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "Embedded mode" in page.text
        assert page.headers["Server"].startswith("gunicorn")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "listens on this machine only" in err


def test_wsgi_module_builds_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in clean_env(tmp_path, GARMINSYNC_WEB_PASSWORD="pw").items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("services.web.wsgi", None)
    module: Any = importlib.import_module("services.web.wsgi")
    client = module.app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 302  # a password is set: log in first
    sys.modules.pop("services.web.wsgi", None)

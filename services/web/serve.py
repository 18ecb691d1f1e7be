"""`garminsync web`: the dashboard under gunicorn (the production WSGI server).

Refuses to listen beyond loopback without a dashboard password. In embedded
mode it runs one gunicorn worker (with threads), because the job runner and
the pending MFA logins live in that process; with Redis it runs two.
"""

from __future__ import annotations

import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from shared.config import Settings, load_settings
from shared.db import ensure_schema
from shared.errors import GarminSyncError
from shared.listen import check_bind, check_port_free
from shared.outcomes import EXIT_CODES, kind_of
from shared.storage import restrict_umask


def gunicorn_options(host: str, port: int, settings: Settings) -> dict[str, Any]:
    bind = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    return {
        "bind": bind,
        "workers": 1 if settings.embedded else 2,
        "threads": 8,
        "worker_class": "gthread",
        "timeout": 120,  # a Garmin login with MFA can take a while
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "garminsync-web",
    }


def serve(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the dashboard until interrupted; exit code 2 for a refused bind, 5 for a taken port."""
    try:
        settings = load_settings()
        restrict_umask(settings.umask)  # gunicorn's workers inherit it
        check_bind(host, settings)
        ensure_schema(settings.database_url)
        check_port_free(host, port)
    except GarminSyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CODES[kind_of(exc)]) from None
    shown = f"[{host}]" if ":" in host else host
    print(f"GarminSync dashboard on http://{shown}:{port}/", file=sys.stderr)
    if not settings.web_password:
        print(
            "No GARMINSYNC_WEB_PASSWORD: the dashboard is open without login, "
            "so it listens on this machine only.",
            file=sys.stderr,
        )
    if settings.embedded:
        print("Embedded mode (no REDIS_URL): syncs started here run inside the web process.", file=sys.stderr)
    DashboardServer(gunicorn_options(host, port, settings)).run()


class DashboardServer(BaseApplication):
    """gunicorn run programmatically; each worker builds its own app after the fork."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from services.web.app import create_app

        return create_app()

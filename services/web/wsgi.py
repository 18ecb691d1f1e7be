"""The WSGI entry for gunicorn: `gunicorn services.web.wsgi:app` (docker compose).

Settings come from the environment. Without GARMINSYNC_WEB_PASSWORD the app
answers only requests from loopback, whatever address gunicorn binds.
"""

from __future__ import annotations

from services.web.app import create_app

app = create_app()

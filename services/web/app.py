"""The Flask app factory: `create_app(settings)` wires store, broker, auth and pages.

The dashboard only reads the store and hands work on (Celery with Redis, one
background thread in embedded mode); it never calls Garmin itself, except for
the interactive login on the account page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.security import generate_password_hash

from shared.accounts import get_or_create_account
from shared.config import Settings, load_settings
from shared.db import create_session, ensure_schema, install_sqlite_pragmas
from shared.errors import GarminSyncError, StorageError
from shared.runtime import Runtime
from shared.storage import restrict_umask
from shared.tokens import load_or_create_secret

from . import auth, health, inbound, panels, templating
from .broker import Broker, CeleryBroker, NoBroker
from .cache import TTLCache
from .context import EXTENSION, WebState, session_secret, web_state
from .errors import WebError, status_for
from .expiring import expiring_keys
from .extensions import csrf, db, db_session
from .logins import Logins
from .pending import PendingLogins
from .queries.accounts import list_accounts
from .runner import EmbeddedRunner
from .throttle import Throttle

log = logging.getLogger("garminsync.web")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
NAV = [
    ("dashboard.index", "Dashboard"),
    ("activities.index", "Activities"),
    ("tasks.index", "Tasks"),
    ("runs.index", "Sync runs"),
    ("stats.index", "Stats"),
    ("schedule.index", "Schedule"),
    ("account.index", "Account"),
    ("system.index", "System"),
]
SESSION_LIFETIME = timedelta(days=7)
LOCAL_ONLY_NOTE = (
    "No GARMINSYNC_WEB_PASSWORD is set: the dashboard is open without login and answers "
    "only on this machine (127.0.0.1)."
)


def create_app(
    settings: Settings | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    broker: Broker | None = None,
    runtime: Runtime | None = None,
) -> Flask:
    """Build the dashboard. `config`, `broker` and `runtime` are overrides for tests."""
    settings = settings or load_settings()
    restrict_umask(settings.umask)  # also when gunicorn loads wsgi.py directly (compose)
    _ensure_schema(settings.database_url)
    runtime = runtime or Runtime.build(settings)
    secret = load_or_create_secret(settings.data_dir, settings.secret_key)
    password = settings.web_password

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_secret(secret),
        SQLALCHEMY_DATABASE_URI=absolute_database_url(settings.database_url),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        SESSION_COOKIE_NAME="garminsync_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Behind HTTPS (a reverse proxy terminating TLS): the browser never sends it over plain HTTP.
        SESSION_COOKIE_SECURE=settings.web_secure_cookie,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session: a tab left open still works
        MAX_CONTENT_LENGTH=1024 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=300,
        GARMINSYNC_AUTH_MARKER=auth.fingerprint(password, secret) if password else "",
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if config:
        app.config.update(config)

    app.before_request(auth.host_guard)  # before CSRF: a foreign host name gets nothing at all
    app.before_request(inbound.check)  # hostile request shapes: a 400 before anything runs
    db.init_app(app)
    csrf.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)
    _ensure_default_account(settings)

    cache = TTLCache()
    keys = expiring_keys(settings.redis_url)
    state = WebState(
        settings=settings,
        runtime=runtime,
        broker=broker or (NoBroker() if settings.embedded else CeleryBroker(settings)),
        runner=EmbeddedRunner(runtime, on_change=cache.clear) if settings.embedded else None,
        pending=PendingLogins(runtime.cipher, settings.redis_url),
        password_hash=generate_password_hash(password) if password else None,
        flower_url=settings.flower_url,
        logins=Logins(keys, SESSION_LIFETIME.total_seconds()),
        throttle=Throttle(keys),
        cache=cache,
        local_gateways=frozenset() if password else auth.container_gateways(),
    )
    app.extensions[EXTENSION] = state

    _register_blueprints(app)
    _register_errors(app)
    templating.register(app)
    app.before_request(auth.guard)
    app.after_request(_security_headers)
    app.context_processor(_layout_context)
    if not password:
        log.warning(LOCAL_ONLY_NOTE)
    return app


def absolute_database_url(url: str) -> str:
    """SQLite paths relative to the working directory, as `shared.db` reads them
    (Flask-SQLAlchemy would otherwise put them under the instance folder)."""
    parsed = make_url(url)
    path = parsed.database or ""
    relative = path not in ("", ":memory:") and not path.startswith("file:") and not Path(path).is_absolute()
    if parsed.get_backend_name() == "sqlite" and relative:
        return parsed.set(database=str(Path(path).absolute())).render_as_string(hide_password=False)
    return url


def engine_options(url: str) -> dict[str, Any]:
    if make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}


def _ensure_schema(url: str, attempts: int = 3) -> None:
    """Upgrade at start-up; a second gunicorn worker racing the first just retries."""
    for attempt in range(attempts):
        try:
            ensure_schema(url)
            return
        except StorageError:
            if attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)


def _ensure_default_account(settings: Settings) -> None:
    try:
        with create_session(settings.database_url) as session:
            get_or_create_account(session, settings)
    except IntegrityError:
        pass  # another worker created it first


def _register_blueprints(app: Flask) -> None:
    from .views import account, activities, api, api_reports, dashboard, runs, schedule, stats, system, tasks

    app.register_blueprint(auth.bp)
    health.register(app)
    for module in (dashboard, activities, tasks, runs, stats, schedule, account, system, api, api_reports):
        app.register_blueprint(module.bp)
    # Health checks and scrapes carry no session, so no CSRF token either (they are GETs anyway).
    csrf.exempt(health.bp)


def wants_json() -> bool:
    return auth.wants_json() or request.accept_mimetypes.best == "application/json"


def error_response(message: str, status: int) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify({"error": message, "status": status}), status
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # the layout needs the store; say it plainly without it
        log.debug("error page failed to render", exc_info=True)
        return Response(f"{status}: {message}\n", status, mimetype="text/plain"), status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(WebError)
    def web_error(exc: WebError) -> tuple[Response | str, int]:
        return error_response(exc.message, exc.status)

    @app.errorhandler(GarminSyncError)
    def project_error(exc: GarminSyncError) -> tuple[Response | str, int]:
        return error_response(str(exc), status_for(exc))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Response | str, int]:
        return error_response(
            f"The request was refused: {exc.description} Reload the page and try again "
            "(API clients: send the token from GET /api/csrf in the X-CSRFToken header).",
            400,
        )

    @app.errorhandler(OperationalError)
    def store_down(exc: OperationalError) -> tuple[Response | str, int]:
        log.warning("database error: %s", exc.orig)
        try:
            db.session.rollback()
        except Exception:
            log.debug("rollback failed", exc_info=True)
        return error_response("The database is unreachable or busy; try again in a moment.", 503)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int]:
        status = exc.code or 500
        return error_response(exc.description or exc.name, status)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response("Something went wrong on our side; the details are in the server log.", 500)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _layout_context() -> dict[str, Any]:
    """What the base layout needs on every page: navigation, mode, account picker.

    Not before a login (or on a refused request): an error page must show no data.
    """
    state = web_state()
    if auth.private():
        return {"nav": [], "hide_nav": True, "gs": {"auth_required": state.auth_required, "accounts": []}}
    current = None
    names: list[str] = []
    try:
        from .views.common import current_account

        current = current_account().name
        names = [account.name for account in list_accounts(db_session())]
    except Exception:  # an error page must render even when this fails
        log.debug("layout context incomplete", exc_info=True)
    return {
        "nav": NAV,
        "gs": {
            "mode": panels.mode(state),
            "embedded": state.embedded,
            "auth_required": state.auth_required,
            "local_only_note": None if state.auth_required else LOCAL_ONLY_NOTE,
            "redis_ok": _safe_redis_ok(state),
            "flower_url": state.flower_url,
            "account": current,
            "accounts": names,
        },
    }


def _safe_redis_ok(state: WebState) -> bool | None:
    try:
        return panels.redis_ok(state)
    except Exception:
        return False

"""The Flask app factory and the gate every simulated Garmin request passes.

One base URL serves everything, because the product points the real
``garminconnect`` client's SSO, DI token and API hosts at the same place.
The routes live in ``routes_sso`` (login, DI tokens), ``routes_api`` (Garmin
API paths) and ``routes_control`` (``/__sim/``). Every non-control request
passes, in order: latency, the simulated rate limit, fault rules, then (API
paths only) bearer-token checks; then it is counted.
"""

from __future__ import annotations

import re
import time

from flask import Flask, Response, g, request

from . import routes_api, routes_control, routes_sso
from .faults import FaultRule
from .responses import error, fault_response
from .state import SimState

CONTROL_PREFIX = "/__sim/"
_ID_RE = re.compile(r"/(\d+)/?$")


def classify(path: str, grant_type: str | None) -> tuple[str, int | None]:
    """(stats kind, activity id or None) for a non-control request path."""
    match = _ID_RE.search(path)
    activity_id = int(match.group(1)) if match else None
    if path.startswith("/di-oauth2-service/"):
        kind = "token_refresh" if grant_type == "refresh_token" else "token_exchange"
        return kind, None
    if path.startswith(("/mobile/", "/portal/", "/sso/")):
        return "login", None
    if path.startswith("/activitylist-service/activities/count"):
        return "count", None
    if path.startswith("/activitylist-service/"):
        return "list", None
    if path.startswith("/activity-service/activity/"):
        return "detail", activity_id
    if path.startswith("/download-service/"):
        return "download", activity_id
    if path.startswith("/userprofile-service/"):
        return "profile", None
    return "other", activity_id


def create_app(state: SimState) -> Flask:
    """Build the app around a state object (shared with the Python API)."""
    app = Flask("services.simulator")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def gate() -> Response | None:
        path = request.path
        g.control = path.startswith(CONTROL_PREFIX)
        if g.control:
            return None
        g.t0 = time.time()
        grant = request.form.get("grant_type") if request.method == "POST" else None
        g.kind, g.activity_id = classify(path, grant)
        delay = state.latency_s()
        if delay:
            time.sleep(delay)
        if not state.rate_limiter.allow(time.time()):
            state.stats_counter.event("rate_limited")
            rl = state.rate_limiter
            return fault_response(429, rl.body, rl.retry_after)
        rule: FaultRule | None = state.faults.pick(g.kind, g.activity_id)
        if rule is not None:
            state.stats_counter.event("fault")
            if rule.delay_ms:
                time.sleep(rule.delay_ms / 1000.0)
            if rule.status is not None:
                return fault_response(rule.status, rule.body, rule.retry_after)
        if g.kind not in ("login", "token_refresh", "token_exchange"):
            g.claims = state.tokens.access_claims(request.headers.get("Authorization"))
            if g.claims is None:
                return error(401, "Unauthorized: token is missing, expired or not active")
        return None

    @app.after_request
    def count(resp: Response) -> Response:
        if not getattr(g, "control", True) and hasattr(g, "t0"):
            path = request.full_path.rstrip("?")
            state.stats_counter.record(g.t0, g.kind, path, resp.status_code)
        return resp

    routes_sso.register(app, state)
    routes_api.register(app, state)
    routes_control.register(app, state)

    @app.errorhandler(404)
    def not_found(_err: Exception) -> Response:
        return error(404, "Not Found")

    @app.errorhandler(405)
    def not_allowed(_err: Exception) -> Response:
        return error(405, "Method Not Allowed")

    return app

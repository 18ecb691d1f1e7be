"""The Flask app factory and the gate every simulated Garmin request passes.

One base URL serves everything, because the product points the real
``garminconnect`` client's SSO, DI token and API hosts at the same place.
The routes live in ``routes_sso`` (login, DI tokens), ``routes_api`` (Garmin
API paths) and ``routes_control`` (``/__sim/``). Every non-control request
is first tied to its account (if Garmin could tell which), then passes, in
order: the rate limits (IP-wide and the account's, at arrival), latency, a
429 if a limit refused it, fault rules, then (API paths only) bearer-token
checks; then it is counted, over all accounts and for its account.
"""

from __future__ import annotations

import re
import time

from flask import Flask, Response, g, request

from . import routes_api, routes_control, routes_sso
from .account import AccountWorld
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
    if path.startswith("/download-service/export/"):
        return "export", activity_id
    if path.startswith("/download-service/"):
        return "download", activity_id
    if path.startswith("/userprofile-service/"):
        return "profile", None
    return "other", activity_id


def requester(state: SimState, kind: str) -> AccountWorld | None:
    """Whose request this is, as far as Garmin can tell before answering it.

    API paths: the bearer token's ``garmin_guid`` (signed by us, even if
    expired; its claims are left in ``g.signed``); the DI token endpoint: the
    refresh token's or the service ticket's account. SSO requests belong to
    no account (IP-wide only).
    """
    g.signed = None
    if kind == "login":
        return None
    if kind == "token_refresh":
        guid = state.tokens.refresh_owner(request.form.get("refresh_token", ""))
    elif kind == "token_exchange":
        guid = state.tokens.ticket_owner(request.form.get("service_ticket", ""))
    else:
        g.signed = state.tokens.signed_claims(request.headers.get("Authorization"))
        guid = g.signed.get("garmin_guid") if g.signed else None
    return state.registry.by_guid(guid)


def create_app(state: SimState) -> Flask:
    """Build the app around a state object (shared with the Python API)."""
    app = Flask("services.simulator")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    traffic = state.traffic

    @app.before_request
    def gate() -> Response | None:
        path = request.path
        g.control = path.startswith(CONTROL_PREFIX)
        if g.control:
            return None
        grant = request.form.get("grant_type") if request.method == "POST" else None
        g.kind, g.activity_id = classify(path, grant)
        g.world = requester(state, g.kind)
        g.t0, refused_by = traffic.admit(g.world)
        delay = traffic.latency_s()
        if delay:
            time.sleep(delay)
        if refused_by is not None:
            traffic.event("rate_limited", g.world)
            return fault_response(429, refused_by.body, refused_by.retry_after)
        rule: FaultRule | None = state.faults.pick(g.kind, g.activity_id)
        if rule is not None:
            traffic.event("fault", g.world)
            if rule.delay_ms:
                time.sleep(rule.delay_ms / 1000.0)
            if rule.status is not None:
                return fault_response(rule.status, rule.body, rule.retry_after)
        if g.kind not in ("login", "token_refresh", "token_exchange"):
            live = g.signed is not None and state.tokens.is_live(g.signed)
            if not live or g.world is None:
                return error(401, "Unauthorized: token is missing, expired or not active")
        return None

    @app.after_request
    def count(resp: Response) -> Response:
        if not getattr(g, "control", True) and hasattr(g, "t0"):
            path = request.full_path.rstrip("?")
            traffic.record(g.t0, g.kind, path, resp.status_code, g.world)
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

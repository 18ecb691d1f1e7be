"""The Flask app: Garmin's SSO, DI token and API paths, plus ``/__sim/`` control.

One base URL serves everything, because the product points the real
``garminconnect`` client's SSO, DI token and API hosts at the same place.
Every non-control request passes, in order: latency, the simulated rate
limit, fault rules, then (API paths only) bearer-token checks.
"""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

from flask import Flask, Response, g, jsonify, request

from . import data
from .faults import FaultRule, FaultSpecError
from .state import MAX_LIST_LIMIT, MFA_CODE, SimState
from .tokens import SERVICE_TICKET_GRANT

CONTROL_PREFIX = "/__sim/"
_ID_RE = re.compile(r"/(\d+)/?$")

SIGNIN_HTML = """<!DOCTYPE html>
<html><head><title>GARMIN Authentication Application</title></head>
<body><div id="root">Garmin SSO (simulated)</div></body></html>
"""

CLOUDFLARE_429 = """<!DOCTYPE html>
<html lang="en-US"><head><title>Access denied | connectapi.garmin.com used Cloudflare to \
restrict access</title></head>
<body><div id="cf-wrapper"><h1><span>Error</span> <span>1015</span></h1>
<h2>You are being rate limited</h2>
<p>The owner of this website (connectapi.garmin.com) has banned you temporarily from \
accessing this website.</p></div></body></html>
"""


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


def _error(status: int, message: str, **extra: Any) -> Response:
    resp = jsonify({"message": message, "error": _reason(status), **extra})
    resp.status_code = status
    return resp


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def fault_response(status: int, body: str, retry_after: float | None) -> Response:
    """A Garmin/Cloudflare-looking error: JSON, an HTML page, or nothing."""
    reason = _reason(status)
    if body == "html":
        if status == 429:
            page = CLOUDFLARE_429
        else:
            page = (
                f"<html><head><title>{status} {html.escape(reason)}</title></head>"
                f"<body><center><h1>{status} {html.escape(reason)}</h1></center>"
                "<hr><center>cloudflare</center></body></html>\n"
            )
        resp = Response(page, status=status, mimetype="text/html")
    elif body == "empty":
        resp = Response(b"", status=status)
    else:
        resp = jsonify({"message": reason, "error": {"status-code": str(status), "message": reason}})
        resp.status_code = status
    if retry_after is not None:
        seconds = retry_after
        resp.headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    return resp


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
                return _error(401, "Unauthorized: token is missing, expired or not active")
        return None

    @app.after_request
    def count(resp: Response) -> Response:
        if not getattr(g, "control", True) and hasattr(g, "t0"):
            path = request.full_path.rstrip("?")
            state.stats_counter.record(g.t0, g.kind, path, resp.status_code)
        return resp

    _register_sso(app, state)
    _register_token(app, state)
    _register_api(app, state)
    _register_control(app, state)

    @app.errorhandler(404)
    def not_found(_err: Exception) -> Response:
        return _error(404, "Not Found")

    @app.errorhandler(405)
    def not_allowed(_err: Exception) -> Response:
        return _error(405, "Method Not Allowed")

    return app


# --------------------------------------------------------------------------- #
# SSO                                                                          #
# --------------------------------------------------------------------------- #


def _register_sso(app: Flask, state: SimState) -> None:
    def signin_page() -> Response:
        resp = Response(SIGNIN_HTML, mimetype="text/html")
        sid = request.cookies.get("SESSION")
        if state.sso_session(sid) is None:
            resp.set_cookie("SESSION", state.new_sso_session(), path="/", httponly=True)
        return resp

    app.add_url_rule("/mobile/sso/en_US/sign-in", "mobile_signin", signin_page)
    app.add_url_rule("/portal/sso/en-US/sign-in", "portal_signin", signin_page)

    def login() -> Response:
        session = state.sso_session(request.cookies.get("SESSION"))
        if session is None:
            # Garmin answers a credential POST without the sign-in page's
            # cookies with 429.
            return fault_response(429, "json", None)
        body = request.get_json(silent=True) or {}
        username = str(body.get("username", ""))
        password = str(body.get("password", ""))
        if not state.check_credentials(username, password):
            state.stats_counter.event("login_failed")
            return jsonify(
                {
                    "responseStatus": {
                        "type": "INVALID_USERNAME_PASSWORD",
                        "message": "",
                        "httpStatus": "UNAUTHORIZED",
                    }
                }
            )
        service = request.args.get("service", "")
        if state.account.mfa:
            session.mfa_pending = True
            session.service_url = service
            return jsonify(
                {
                    "responseStatus": {"type": "MFA_REQUIRED", "message": "", "httpStatus": "OK"},
                    "customerMfaInfo": {
                        "mfaLastMethodUsed": "email",
                        "maskedEmail": _mask(state.account.email),
                    },
                }
            )
        return _ticket_response(state, service)

    app.add_url_rule("/mobile/api/login", "mobile_login", login, methods=["POST"])
    app.add_url_rule("/portal/api/login", "portal_login", login, methods=["POST"])

    def verify_mfa() -> Response:
        session = state.sso_session(request.cookies.get("SESSION"))
        body = request.get_json(silent=True) or {}
        if session is None or not session.mfa_pending:
            return jsonify({"responseStatus": {"type": "INVALID_SESSION", "message": ""}})
        if str(body.get("mfaVerificationCode", "")).strip() != MFA_CODE:
            state.stats_counter.event("login_failed")
            return jsonify(
                {"responseStatus": {"type": "INVALID_MFA_CODE", "message": "", "httpStatus": "OK"}}
            )
        session.mfa_pending = False
        return _ticket_response(state, request.args.get("service") or session.service_url)

    app.add_url_rule("/mobile/api/mfa/verifyCode", "mobile_mfa", verify_mfa, methods=["POST"])
    app.add_url_rule("/portal/api/mfa/verifyCode", "portal_mfa", verify_mfa, methods=["POST"])

    @app.route("/sso/<path:_rest>", methods=["GET", "POST"])
    def widget(_rest: str) -> Response:
        # The embed widget is not simulated: answer like a Cloudflare block so
        # the client moves on to its next strategy.
        return Response(
            "<html><head><title>Attention Required! | Cloudflare</title></head></html>",
            status=403,
            mimetype="text/html",
        )


def _mask(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def _ticket_response(state: SimState, service: str) -> Response:
    ticket = state.tokens.issue_ticket(service)
    state.stats_counter.event("login_ok")
    return jsonify(
        {
            "serviceURL": service,
            "serviceTicketId": ticket,
            "responseStatus": {"type": "SUCCESSFUL", "message": "", "httpStatus": "OK"},
        }
    )


# --------------------------------------------------------------------------- #
# DI OAuth2 token endpoint                                                     #
# --------------------------------------------------------------------------- #


def _register_token(app: Flask, state: SimState) -> None:
    @app.route("/di-oauth2-service/oauth/token", methods=["POST"])
    def token() -> Response:
        form = request.form
        grant = form.get("grant_type", "")
        client_id = form.get("client_id") or None
        if grant == "refresh_token":
            body = state.tokens.refresh(form.get("refresh_token", ""), client_id)
            if body is None:
                state.stats_counter.event("refresh_refused")
                return _oauth_error(401, "invalid_grant", "Refresh token is invalid or revoked")
            state.stats_counter.event("refresh_ok")
            return jsonify(body)
        if grant == SERVICE_TICKET_GRANT:
            if not client_id:
                return _oauth_error(400, "invalid_request", "client_id is required")
            ticket = form.get("service_ticket", "")
            if not state.tokens.consume_ticket(ticket, form.get("service_url")):
                return _oauth_error(400, "invalid_grant", "Service ticket is invalid")
            state.stats_counter.event("exchange_ok")
            return jsonify(state.tokens.issue(client_id))
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")


def _oauth_error(status: int, error: str, description: str) -> Response:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    return resp


# --------------------------------------------------------------------------- #
# API                                                                          #
# --------------------------------------------------------------------------- #


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw)  # ValueError -> 400 by the caller
    if value < 0:
        raise ValueError(name)
    return value


def _register_api(app: Flask, state: SimState) -> None:
    @app.route("/userprofile-service/socialProfile")
    def social_profile() -> Response:
        acc = state.account
        return jsonify(
            {
                "id": acc.profile_id,
                "profileId": acc.profile_id,
                "garminGUID": state.garmin_guid,
                "displayName": acc.display_name,
                "fullName": acc.full_name,
                "userName": acc.email,
                "profileImageType": "UPLOADED_PHOTO",
                "location": acc.home.name,
                "userLevel": 3,
                "userPoint": 120,
                "levelUpdateDate": "2024-03-01T10:00:00.0",
                "levelIsViewed": True,
                "userRoles": ["ROLE_CONNECTUSER", "ROLE_FITNESS_USER"],
            }
        )

    @app.route("/userprofile-service/userprofile/user-settings")
    def user_settings() -> Response:
        acc = state.account
        return jsonify(
            {
                "id": acc.profile_id,
                "userData": {
                    "gender": "FEMALE",
                    "weight": 61000.0,
                    "height": 168.0,
                    "timeFormat": "time_twenty_four_hr",
                    "birthDate": "1990-04-12",
                    "measurementSystem": "metric",
                    "activityLevel": 6,
                    "handedness": "RIGHT",
                    "firstDayOfWeek": {"dayId": 2, "dayName": "monday", "sortOrder": 2},
                },
                "userSleep": {"sleepTime": 80400, "wakeTime": 24000},
                "connectDate": None,
                "sourceType": None,
            }
        )

    @app.route("/userprofile-service/userprofile/personal-information/<name>")
    def personal_information(name: str) -> Response:
        acc = state.account
        if name != acc.display_name:
            return _error(403, "Forbidden")
        return jsonify(
            {
                "userInfo": {"email": acc.email, "locale": "en"},
                "timeZone": acc.home.tz,
            }
        )

    @app.route("/activitylist-service/activities/search/activities")
    def search() -> Response:
        try:
            start = _int_arg("start", 0)
            limit = _int_arg("limit", 20)
            start_date = request.args.get("startDate")
            end_date = request.args.get("endDate")
            sd = data.parse_day(start_date) if start_date else None
            ed = data.parse_day(end_date) if end_date else None
        except ValueError:
            return _error(400, "Invalid request parameters")
        if limit > MAX_LIST_LIMIT:
            return _error(400, f"limit must be less than or equal to {MAX_LIST_LIMIT}")
        order = (request.args.get("sortOrder") or "desc").lower()
        acts = state.search(
            start=start,
            limit=limit,
            activity_type=request.args.get("activityType") or None,
            start_date=sd,
            end_date=ed,
            ascending=order == "asc",
        )
        return _json_list([data.list_item(a, state.account) for a in acts])

    @app.route("/activitylist-service/activities/count")
    def count() -> Response:
        counts: dict[str, int] = {}
        for a in state.activities():
            counts[a.type_key] = counts.get(a.type_key, 0) + 1
        return jsonify({"countMap": counts, "totalCount": sum(counts.values())})

    @app.route("/activity-service/activity/<int:activity_id>")
    def activity_detail(activity_id: int) -> Response:
        act = state.get_activity(activity_id)
        if act is None:
            return _error(404, "Activity not found")
        return jsonify(data.detail(act, state.account))

    @app.route("/download-service/files/activity/<int:activity_id>")
    def original(activity_id: int) -> Response:
        act = state.get_activity(activity_id)
        if act is None:
            return _error(404, "Activity not found")
        if act.kind == "manual":
            status = state.manual_status
            return _error(status, "No file found for activity" if status == 404 else _reason(status))
        fault = state.faults.take_file_fault(activity_id)
        if fault is not None:
            state.stats_counter.event("fault")
        body = state.original_zip(activity_id, fault)
        resp = Response(body, mimetype="application/x-zip-compressed")
        resp.headers["Content-Disposition"] = f'attachment; filename="{activity_id}.zip"'
        return resp

    @app.route("/download-service/export/<fmt>/activity/<int:activity_id>")
    def export(fmt: str, activity_id: int) -> Response:
        if fmt not in ("gpx", "tcx"):
            return _error(404, "Not Found")
        act = state.get_activity(activity_id)
        if act is None or act.kind == "manual":
            return _error(404, "Activity not found")
        mimetype = "application/gpx+xml" if fmt == "gpx" else "application/vnd.garmin.tcx+xml"
        resp = Response(state.export(activity_id, fmt), mimetype=mimetype)
        resp.headers["Content-Disposition"] = f'attachment; filename="activity_{activity_id}.{fmt}"'
        return resp


def _json_list(items: list[dict[str, Any]]) -> Response:
    return Response(json.dumps(items, ensure_ascii=False), mimetype="application/json")


# --------------------------------------------------------------------------- #
# Control API (not counted, no auth)                                           #
# --------------------------------------------------------------------------- #


def _body() -> Any:
    return request.get_json(silent=True, force=True)


def _register_control(app: Flask, state: SimState) -> None:
    @app.route("/__sim/health")
    def health() -> Response:
        return jsonify({"ok": True})

    @app.route("/__sim/faults", methods=["GET", "POST", "DELETE"])
    def faults() -> Response:
        if request.method == "DELETE":
            state.clear_faults()
            return jsonify(state.faults.describe())
        if request.method == "GET":
            return jsonify(state.faults.describe())
        try:
            return jsonify(state.set_faults(_body()))
        except FaultSpecError as err:
            return _error(400, str(err))

    @app.route("/__sim/config", methods=["GET", "POST"])
    def config() -> Response:
        if request.method == "GET":
            return jsonify(state.config())
        body = _body()
        if not isinstance(body, dict):
            return _error(400, "expected a JSON object")
        try:
            return jsonify(state.configure(**body))
        except (ValueError, TypeError) as err:
            return _error(400, str(err))

    @app.route("/__sim/activities", methods=["GET", "POST"])
    def activities() -> Response:
        if request.method == "GET":
            return jsonify(
                [
                    {
                        "activityId": a.activity_id,
                        "kind": a.kind,
                        "typeKey": a.type_key,
                        "activityName": a.name,
                        "startTimeGMT": a.start_utc.strftime("%Y-%m-%d %H:%M:%S"),
                    }
                    for a in state.activities()
                ]
            )
        body = _body() or {}
        n = body.get("count", 1) if isinstance(body, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > 100_000:
            return _error(400, "count must be an integer between 0 and 100000")
        try:
            ids = state.add_activities(n, kind=body.get("kind"))
        except ValueError as err:
            return _error(400, str(err))
        return jsonify({"ids": ids})

    @app.route("/__sim/activities/<int:activity_id>", methods=["DELETE"])
    def delete_activity(activity_id: int) -> Response:
        if not state.delete_activity(activity_id):
            return _error(404, "Activity not found")
        return jsonify({"deleted": activity_id})

    @app.route("/__sim/revoke", methods=["POST"])
    def revoke() -> Response:
        body = _body() or {}
        revoked = state.revoke_refresh_tokens()
        if isinstance(body, dict) and body.get("access_tokens"):
            state.revoke_access_tokens()
        return jsonify({"revoked_refresh_tokens": revoked})

    @app.route("/__sim/tokens", methods=["POST"])
    def tokens() -> Response:
        body = _body() or {}
        ttl = body.get("ttl") if isinstance(body, dict) else None
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
            return _error(400, "ttl must be a positive integer")
        return jsonify(state.issue_tokens(ttl=ttl))

    @app.route("/__sim/stats")
    def stats() -> Response:
        windows: list[float] = [1.0, 10.0, 60.0]
        try:
            windows += [float(w) for w in request.args.getlist("window")]
        except ValueError:
            return _error(400, "window must be a number of seconds")
        return jsonify(state.stats(windows))

    @app.route("/__sim/stats/reset", methods=["POST"])
    def stats_reset() -> Response:
        state.reset_stats()
        return jsonify({"ok": True})

    @app.route("/__sim/account")
    def account() -> Response:
        acc = state.account
        return jsonify(
            {
                "email": acc.email,
                "mfa": acc.mfa,
                "mfa_code": MFA_CODE,
                "displayName": acc.display_name,
                "fullName": acc.full_name,
                "profileId": acc.profile_id,
            }
        )

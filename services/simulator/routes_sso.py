"""Garmin's SSO login (sign-in page, credentials, MFA) and the DI OAuth2 token endpoint.

Only the mobile and portal JSON flows that garminconnect uses are simulated;
the embed widget answers like a Cloudflare block so the client moves on.
The credentials pick the account; its service ticket, and the tokens the
ticket and their refreshes yield, stay with that account.
"""

from __future__ import annotations

from flask import Flask, Response, g, jsonify, request

from .account import AccountWorld
from .responses import fault_response
from .state import MFA_CODE, SimState
from .tokens import SERVICE_TICKET_GRANT

SIGNIN_HTML = """<!DOCTYPE html>
<html><head><title>GARMIN Authentication Application</title></head>
<body><div id="root">Garmin SSO (simulated)</div></body></html>
"""


def register(app: Flask, state: SimState) -> None:
    """Add the SSO and DI token routes."""
    _register_sso(app, state)
    _register_token(app, state)


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
        world = state.registry.login(username, password)
        if world is None:
            state.traffic.event("login_failed")
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
        if world.profile.mfa:
            session.mfa_pending = True
            session.service_url = service
            session.email = world.email
            return jsonify(
                {
                    "responseStatus": {"type": "MFA_REQUIRED", "message": "", "httpStatus": "OK"},
                    "customerMfaInfo": {
                        "mfaLastMethodUsed": "email",
                        "maskedEmail": _mask(world.email),
                    },
                }
            )
        return _ticket_response(state, world, service)

    app.add_url_rule("/mobile/api/login", "mobile_login", login, methods=["POST"])
    app.add_url_rule("/portal/api/login", "portal_login", login, methods=["POST"])

    def verify_mfa() -> Response:
        session = state.sso_session(request.cookies.get("SESSION"))
        body = request.get_json(silent=True) or {}
        if session is None or not session.mfa_pending:
            return jsonify({"responseStatus": {"type": "INVALID_SESSION", "message": ""}})
        world = state.world(session.email)
        if str(body.get("mfaVerificationCode", "")).strip() != MFA_CODE:
            state.traffic.event("login_failed", world)
            return jsonify(
                {"responseStatus": {"type": "INVALID_MFA_CODE", "message": "", "httpStatus": "OK"}}
            )
        session.mfa_pending = False
        return _ticket_response(state, world, request.args.get("service") or session.service_url)

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


def _ticket_response(state: SimState, world: AccountWorld, service: str) -> Response:
    ticket = state.tokens.issue_ticket(service, world.guid)
    state.traffic.event("login_ok", world)
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
            # The gate already knows the refresh token's account (g.world).
            body = state.tokens.refresh(form.get("refresh_token", ""), client_id)
            if body is None:
                state.traffic.event("refresh_refused", g.world)
                return _oauth_error(401, "invalid_grant", "Refresh token is invalid or revoked")
            state.traffic.event("refresh_ok", g.world)
            return jsonify(body)
        if grant == SERVICE_TICKET_GRANT:
            if not client_id:
                return _oauth_error(400, "invalid_request", "client_id is required")
            ticket = form.get("service_ticket", "")
            guid = state.tokens.consume_ticket(ticket, form.get("service_url"))
            if guid is None:
                return _oauth_error(400, "invalid_grant", "Service ticket is invalid")
            state.traffic.event("exchange_ok", state.registry.by_guid(guid))
            return jsonify(state.tokens.issue(guid, client_id))
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")


def _oauth_error(status: int, error: str, description: str) -> Response:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    return resp

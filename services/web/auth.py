"""The dashboard's own login: one password, a session cookie, a slow-down on guessing.

The password (GARMINSYNC_WEB_PASSWORD) is hashed at start-up and checked in
constant time. A signed session cookie says "logged in" with a fingerprint of
the password, so changing the password logs every browser out, and every
gunicorn worker agrees without shared state. Without a password the dashboard
answers only this machine: loopback, and in a container the gateway Docker's
port proxy speaks from (compose publishes the port on the host's 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response as BaseResponse

from . import hosts
from .context import web_state

bp = Blueprint("auth", __name__)

# Reachable without logging in (health checks carry no session).
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "static", "health.healthz", "health.readyz", "api.csrf_token", "api.login"}
)
# These answer anyone, under any host name: they hold no data.
OPEN_ENDPOINTS = frozenset({"health.healthz", "health.readyz"})
# Account names and counts: a login, or GARMINSYNC_METRICS_TOKEN as a bearer token.
METRICS = "health.metrics"


def fingerprint(password: str, secret: str) -> str:
    return hmac.new(secret.encode(), b"web-login:" + password.encode(), hashlib.sha256).hexdigest()


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))
ROUTES = Path("/proc/net/route")


def container_gateways(
    markers: tuple[Path, ...] = CONTAINER_MARKERS, routes: Path = ROUTES
) -> frozenset[str]:
    """Inside a container, the default gateway: where the host's own connections to a
    published port come from (Docker's proxy), while other machines keep their own
    address. Empty outside containers, where the gateway is a router."""
    if not any(marker.exists() for marker in markers):
        return frozenset()
    found = set()
    try:
        lines = routes.read_text().splitlines()[1:]
    except OSError:
        return frozenset()
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
            try:
                found.add(str(ipaddress.IPv4Address(int(fields[2], 16).to_bytes(4, "little"))))
            except ValueError:
                continue
    return frozenset(found)


def is_local(address: str | None, gateways: frozenset[str]) -> bool:
    return is_loopback(address) or (address is not None and address in gateways)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def logged_in() -> bool:
    state = web_state()
    if not state.auth_required:
        return True
    marker = current_app.config["GARMINSYNC_AUTH_MARKER"]
    # The password's fingerprint (a changed password ends every login) and a login the
    # server still knows (a logged-out cookie is dead everywhere, not only in its browser).
    return hmac.compare_digest(str(session.get("auth", "")), marker) and state.logins.active(
        session.get("login")
    )


def metrics_token_ok() -> bool:
    """A Prometheus scrape with the configured bearer token (a page cannot forge the header)."""
    token = web_state().settings.metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if request.endpoint != METRICS or not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def private() -> bool:
    """Nothing of the store may be shown: not logged in, or the request was refused."""
    return bool(g.get("refused")) or not logged_in()


def host_guard() -> BaseResponse | None:
    """The first `before_request` (before CSRF): a host name or origin we do not serve."""
    state = web_state()
    if request.endpoint in OPEN_ENDPOINTS or metrics_token_ok():
        return None
    refused = hosts.refusal(
        request.method,
        request.host,
        request.headers.get("Origin"),
        state.settings.web_allowed_hosts,
        state.auth_required,
        forwarded=any(name in request.headers for name in hosts.FORWARDING_HEADERS),
    )
    return _refuse(refused) if refused else None


def guard() -> BaseResponse | None:
    """`before_request`: loopback-only without a password, else a login."""
    state = web_state()
    endpoint = request.endpoint or ""
    if metrics_token_ok():
        return None
    if not state.auth_required:
        if endpoint in OPEN_ENDPOINTS or is_local(request.remote_addr, state.local_gateways):
            return None
        return _refuse(
            "No GARMINSYNC_WEB_PASSWORD is set, so this dashboard only answers on the machine "
            "it runs on. Set a password to reach it over the network."
        )
    if endpoint in PUBLIC_ENDPOINTS or logged_in():
        return None
    if endpoint == METRICS:
        message = "401: log in, or scrape with the GARMINSYNC_METRICS_TOKEN bearer token\n"
        return Response(message, 401, mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
    if wants_json():
        return _json_error("log in first (POST /api/login)", 401)
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _refuse(message: str) -> BaseResponse:
    g.refused = True
    if wants_json():
        return _json_error(message, 403)
    return Response(render_template("error.html", status=403, message=message), 403)


def _json_error(message: str, status: int) -> BaseResponse:
    response = jsonify({"error": message, "status": status})
    response.status_code = status
    return response


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `https://elsewhere`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("dashboard.index")
    if any(ord(ch) < 32 for ch in target):  # CR/LF would split the Location header
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("dashboard.index")
    return target


def check_password(password: str) -> tuple[bool, str | None]:
    """(ok, error message) with the throttle applied."""
    state = web_state()
    client = request.remote_addr or "?"
    wait = state.throttle.wait_s(client)
    if wait > 0:
        return False, f"Too many wrong passwords: wait {int(wait) + 1} s and try again."
    if state.password_hash and check_password_hash(state.password_hash, password):
        state.throttle.succeed(client)
        end_login()
        session["auth"] = current_app.config["GARMINSYNC_AUTH_MARKER"]
        session["login"] = state.logins.start()
        session.permanent = True
        return True, None
    state.throttle.fail(client)
    return False, "Wrong password."


def end_login() -> None:
    """Log this session out on the server too, then clear the cookie."""
    web_state().logins.end(session.get("login"))
    session.clear()


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    state = web_state()
    target = safe_next(request.values.get("next"))
    if not state.auth_required or logged_in():
        return redirect(target)
    if request.method == "POST":
        ok, error = check_password(request.form.get("password", ""))
        if ok:
            return redirect(target)
        status = 429 if error and error.startswith("Too many") else 401
        return render_template("login.html", error=error, next=target), status
    return render_template("login.html", error=None, next=target)


@bp.post("/logout")
def logout() -> BaseResponse:
    end_login()
    flash("Logged out.", "info")
    if web_state().auth_required:
        return redirect(url_for("auth.login"))
    return redirect(url_for("dashboard.index"))

"""The Garmin account: who is logged in, token state, and logging in with MFA in the page."""

from __future__ import annotations

from flask import Blueprint, render_template, session, url_for
from werkzeug.wrappers import Response

from shared.errors import AuthRequired, ConfigError, DeliveryFailed, RateLimited, TransientError, UsageError
from shared.reports import account_dict

from .. import actions, forms, panels
from ..context import web_state
from ..errors import BadInput, status_of
from ..extensions import db_session
from ..pending import SESSION_KEY as PENDING_KEY
from ..queries.accounts import list_accounts
from .common import body, current_account, done_redirect

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(
    error: str | None = None, status: int = 200, email: str | None = None, notify_error: str | None = None
) -> tuple[str, int]:
    state = web_state()
    account = current_account()
    pending = state.pending.get(session.get(PENDING_KEY))
    html = render_template(
        "account.html",
        account=account_dict(account),
        extras=panels.account_page(state, db_session(), account),
        notify_error=notify_error,
        accounts=[account_dict(a) for a in list_accounts(db_session())],
        pending=pending is not None and pending.account_id == account.id,
        error=error,
        email=email or account.email or state.settings.garmin_email or "",
    )
    return html, status


@bp.get("")
def index() -> tuple[str, int]:
    return _page()


@bp.post("/login")
def login() -> Response | tuple[str, int]:
    state = web_state()
    data = body()
    email = forms.text(data, "email", 255)
    try:
        email, password = forms.credentials(data)
        done, key = actions.begin_login(state, current_account().id, email, password)
    except (BadInput, AuthRequired, RateLimited, TransientError) as exc:
        return _page(str(exc), status_of(exc), email)
    if key is not None:
        session[PENDING_KEY] = key
    return done_redirect(done, url_for("account.index"))


@bp.post("/mfa")
def mfa() -> Response | tuple[str, int]:
    state = web_state()
    key = session.get(PENDING_KEY)
    try:
        done = actions.submit_mfa(state, key, forms.mfa_code(body()))
    except (BadInput, AuthRequired, RateLimited, TransientError) as exc:
        if state.pending.get(key) is None:
            session.pop(PENDING_KEY, None)
        return _page(str(exc), status_of(exc))
    session.pop(PENDING_KEY, None)
    return done_redirect(done, url_for("account.index"))


@bp.post("/cancel")
def cancel() -> Response:
    state = web_state()
    state.pending.drop(session.pop(PENDING_KEY, None))
    return done_redirect(actions.Done("Login cancelled.", {}), url_for("account.index"))


@bp.post("/notifications")
def notify_urls() -> Response | tuple[str, int]:
    """Replace the account's own Apprise URLs (the `remove` button sends none)."""
    data = body()
    text = None if forms.boolean(data, "remove") else forms.notify_urls(data)
    try:
        done = actions.set_notify_urls(web_state(), current_account(), text)
    except (BadInput, UsageError) as exc:
        return _page(notify_error=str(exc), status=status_of(exc))
    return done_redirect(done, url_for("account.index"))


@bp.post("/notifications/test")
def notify_test() -> Response | tuple[str, int]:
    try:
        done = actions.test_notification(web_state(), current_account())
    except (ConfigError, DeliveryFailed) as exc:
        return _page(notify_error=str(exc), status=status_of(exc))
    return done_redirect(done, url_for("account.index"))

"""`/api/stats` and `/api/notifications…`: the Stats page and the account's notifications as
JSON (docs/API.md). Same login and CSRF as the rest of the API."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from shared.usecases import stats as statistics

from .. import actions, forms, panels
from ..context import web_state
from ..extensions import db_session
from .common import body, current_account, done_json

bp = Blueprint("api_reports", __name__, url_prefix="/api")


@bp.get("/stats")
def stats() -> Response:
    by = forms.choice(request.args, "by", statistics.GROUPINGS, "year") or "year"
    return jsonify(statistics.totals(web_state().runtime, current_account().id, by))


@bp.get("/notifications")
def notifications() -> Response:
    """Where the account's notifications go (scheme and host only), the events, the last deliveries,
    and when its tokens need a new login."""
    return jsonify(panels.account_page(web_state(), db_session(), current_account()))


@bp.post("/notifications/urls")
def notify_urls() -> tuple[Response, int]:
    return done_json(actions.set_notify_urls(web_state(), current_account(), forms.notify_urls(body())))


@bp.post("/notifications/test")
def notify_test() -> tuple[Response, int]:
    return done_json(actions.test_notification(web_state(), current_account()))

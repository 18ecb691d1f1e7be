"""Helpers every blueprint uses: the current account, input, and answering an action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import flash, g, jsonify, redirect, request, session
from werkzeug.wrappers import Response

from shared.models import Account

from ..actions import Done
from ..auth import safe_next
from ..errors import BadInput, Missing
from ..extensions import db_session
from ..queries.accounts import account_by_name

MAX_TASK_ID = 64


def current_account() -> Account:
    """`?account=NAME` (API), else the one picked in the navigation, else `default`."""
    cached: Account | None = g.get("account")
    if cached is not None:
        return cached
    name = request.args.get("account") or session.get("account") or "default"
    if not isinstance(name, str) or len(name) > 64:
        raise BadInput("account must be an account name")
    account = account_by_name(db_session(), name)
    if account is None and name != "default" and "account" not in request.args:
        session.pop("account", None)
        account = account_by_name(db_session(), "default")
    if account is None:
        raise Missing(f"unknown account {name!r}")
    g.account = account
    return account


def body() -> Mapping[str, Any]:
    """A JSON object or form fields; JSON that is not an object is bad input."""
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None and request.get_data():
            raise BadInput("the request body is not valid JSON")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise BadInput("the JSON body must be an object")
        return data
    return request.form


def int_id(value: str, what: str, hi: int = 2**31 - 1) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadInput(f"{value[:30]!r} is not a {what} id") from None
    if not 0 < number <= hi:
        raise Missing(f"no {what} {number}")
    return number


def task_id(value: str) -> str:
    if len(value) > MAX_TASK_ID or not value.replace("-", "").replace("_", "").isalnum():
        raise Missing(f"no task {value[:MAX_TASK_ID]!r} in the task history")
    return value


def done_json(done: Done, status: int = 200) -> tuple[Response, int]:
    return jsonify(done.as_dict()), status


def done_redirect(done: Done, target: str) -> Response:
    flash(done.message, "success")
    if done.warning:
        flash(done.warning, "warning")
    return redirect(safe_next(target))


def back(default: str) -> str:
    """Where an action's form came from (a path on this site), for the redirect after it."""
    target = request.form.get("next") or default
    return safe_next(target)

"""The dashboard: counters, chart, current sync, next run, recent runs, "Sync now"."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from werkzeug.wrappers import Response

from .. import actions, forms, panels
from ..context import web_state
from ..errors import Missing
from ..extensions import db_session
from ..queries.accounts import account_by_name
from .common import back, body, current_account, done_redirect

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> str:
    state = web_state()
    account = current_account()
    return render_template("dashboard.html", data=panels.dashboard(state, db_session(), account))


@bp.post("/sync")
def sync_now() -> Response:
    full = forms.boolean(body(), "full")
    done = actions.sync_now(web_state(), current_account(), full)
    return done_redirect(done, back(url_for("dashboard.index")))


@bp.post("/accounts/select")
def select_account() -> Response:
    name = forms.text(body(), "account", 64)
    if name is None or account_by_name(db_session(), name) is None:
        raise Missing(f"unknown account {name!r}")
    session["account"] = name
    flash(f"Showing account {name}.", "info")
    return redirect(back(url_for("dashboard.index")))

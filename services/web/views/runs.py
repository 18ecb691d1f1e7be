"""Sync runs (the seed's log page): filter, page, one run, clear old entries."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import actions, forms
from ..context import web_state
from ..extensions import db_session
from ..queries.runs import get_run, list_runs, run_row
from .common import body, current_account, done_redirect, int_id

bp = Blueprint("runs", __name__, url_prefix="/runs")


@bp.get("")
def index() -> str:
    account = current_account()
    filters = forms.run_filters(request.args)
    page = list_runs(db_session(), account.id, filters, forms.paging(request.args), web_state().cache)
    return render_template(
        "runs.html", page=page, filters=filters, statuses=forms.RUN_STATUSES, triggers=forms.RUN_TRIGGERS
    )


@bp.get("/<run_id>")
def detail(run_id: str) -> str:
    run = get_run(db_session(), current_account().id, int_id(run_id, "sync run"))
    return render_template("run.html", r=run_row(run))


@bp.post("/clear")
def clear() -> Response:
    days = forms.integer(body(), "older_than_days", 30, 0, 3650)
    done = actions.clear_runs(web_state(), current_account(), days)
    return done_redirect(done, url_for("runs.index"))

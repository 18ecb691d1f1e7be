"""Statistics: totals per year, month or activity type, from the stored summaries."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from shared.usecases import stats as statistics

from .. import forms
from ..context import web_state
from .common import current_account

bp = Blueprint("stats", __name__, url_prefix="/stats")


@bp.get("")
def index() -> str:
    by = forms.choice(request.args, "by", statistics.GROUPINGS, "year") or "year"
    result = statistics.totals(web_state().runtime, current_account().id, by)
    return render_template("stats.html", s=result, groupings=statistics.GROUPINGS)

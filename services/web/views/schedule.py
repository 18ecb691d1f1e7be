"""The sync schedule: cron with presets, its meaning and next runs, on/off."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from werkzeug.wrappers import Response

from shared.errors import UsageError

from .. import actions, forms, panels
from ..context import web_state
from ..extensions import db_session
from .common import body, current_account, done_redirect

bp = Blueprint("schedule", __name__, url_prefix="/schedule")


@bp.get("")
def index() -> str:
    account = current_account()
    return render_template(
        "schedule.html", s=panels.schedule(web_state(), db_session(), account), error=None, cron_value=None
    )


@bp.post("")
def save() -> Response | tuple[str, int]:
    account = current_account()
    data = body()
    cron = forms.text(data, "cron", 120) or ""
    try:
        done = actions.set_schedule(web_state(), account, cron, None)
    except UsageError as exc:
        # Show the form again with what was typed and why it is wrong.
        page = render_template(
            "schedule.html",
            s=panels.schedule(web_state(), db_session(), account),
            error=str(exc),
            cron_value=cron,
        )
        return page, 400
    return done_redirect(done, url_for("schedule.index"))


@bp.post("/enable")
def enable() -> Response:
    done = actions.set_schedule(web_state(), current_account(), None, True)
    return done_redirect(done, url_for("schedule.index"))


@bp.post("/disable")
def disable() -> Response:
    done = actions.set_schedule(web_state(), current_account(), None, False)
    return done_redirect(done, url_for("schedule.index"))

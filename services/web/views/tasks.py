"""Tasks, Flower-style: the durable task history, workers online, queue lengths, revoke."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import actions, forms, panels
from ..context import web_state
from ..extensions import db_session
from ..queries.tasks import get_task, list_tasks, task_names, task_row, task_state_counts
from .common import done_redirect, task_id

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
TASKS_TTL_S = 60.0


@bp.get("")
def index() -> str:
    state = web_state()
    filters = forms.task_filters(request.args)
    page = list_tasks(db_session(), filters, forms.paging(request.args), state.cache)
    names = state.cache.get_or_set("task-names", TASKS_TTL_S, lambda: task_names(db_session()))
    return render_template(
        "tasks.html",
        page=page,
        filters=filters,
        names=names,
        task_states=forms.TASK_STATES,
        counts=task_state_counts(db_session()),
        workers=panels.workers(state),
    )


@bp.get("/<tid>")
def detail(tid: str) -> str:
    task = get_task(db_session(), task_id(tid))
    return render_template("task.html", t=task_row(task))


@bp.post("/<tid>/revoke")
def revoke(tid: str) -> Response:
    done = actions.revoke_task(web_state(), task_id(tid), db_session())
    return done_redirect(done, url_for("tasks.detail", tid=tid))

"""Tasks, Flower-style: the durable task history, workers online, queue lengths, revoke."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import actions, forms, panels, queries
from ..context import web_state
from ..extensions import store
from .common import done_redirect, task_id

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
TASKS_TTL_S = 60.0


@bp.get("")
def index() -> str:
    state = web_state()
    filters = forms.task_filters(request.args)
    page = queries.list_tasks(store(), filters, forms.paging(request.args), state.cache)
    names = state.cache.get_or_set("task-names", TASKS_TTL_S, lambda: queries.task_names(store()))
    return render_template(
        "tasks.html",
        page=page,
        filters=filters,
        names=names,
        task_states=forms.TASK_STATES,
        counts=queries.task_state_counts(store()),
        workers=panels.workers(state),
    )


@bp.get("/<tid>")
def detail(tid: str) -> str:
    task = queries.get_task(store(), task_id(tid))
    return render_template("task.html", t=queries.task_row(task))


@bp.post("/<tid>/revoke")
def revoke(tid: str) -> Response:
    done = actions.revoke_task(web_state(), task_id(tid), store())
    return done_redirect(done, url_for("tasks.detail", tid=tid))

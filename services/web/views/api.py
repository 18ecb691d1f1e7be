"""`/api/...`: JSON for everything the pages show and do (see docs/API.md).

Same session login and CSRF as the pages: a script logs in with
`POST /api/login` after reading a token from `GET /api/csrf`, and sends the
token back in the `X-CSRFToken` header on every POST.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request, session
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from shared.errors import UsageError
from shared.reports import account_dict
from shared.schedules import describe, next_runs, validate_cron

from .. import actions, forms, panels
from ..auth import check_password, end_login, logged_in
from ..context import web_state
from ..errors import BadInput
from ..extensions import db_session
from ..pending import SESSION_KEY as PENDING_KEY
from ..queries.accounts import list_accounts
from ..queries.activities import activity_detail, get_activity, list_activities
from ..queries.runs import get_run, list_runs, run_row
from ..queries.tasks import get_task, list_tasks, task_row, task_state_counts
from .activities import send_archived
from .common import body, current_account, done_json, int_id, task_id

bp = Blueprint("api", __name__, url_prefix="/api")


# --- session -----------------------------------------------------------------------


@bp.get("/csrf")
def csrf_token() -> Response:
    return jsonify({"csrf_token": generate_csrf()})


@bp.post("/login")
def login() -> tuple[Response, int]:
    state = web_state()
    if not state.auth_required:
        return jsonify({"ok": True, "message": "no password is set; local access only"}), 200
    password = body().get("password")
    if not isinstance(password, str):
        raise BadInput("give the dashboard password as password")
    ok, error = check_password(password)
    if not ok:
        status = 429 if error and error.startswith("Too many") else 401
        return jsonify({"error": error, "status": status}), status
    return jsonify({"ok": True, "csrf_token": generate_csrf()}), 200


@bp.post("/logout")
def logout() -> Response:
    end_login()
    return jsonify({"ok": True})


@bp.get("/session")
def whoami() -> Response:
    state = web_state()
    return jsonify(
        {
            "logged_in": logged_in(),
            "password_set": state.auth_required,
            "mode": panels.mode(state),
            "account": current_account().name,
        }
    )


# --- dashboard ---------------------------------------------------------------------


@bp.get("/dashboard")
def dashboard() -> Response:
    return jsonify(panels.dashboard(web_state(), db_session(), current_account()))


@bp.get("/dashboard/chart")
def chart() -> Response:
    return jsonify(panels.chart(web_state(), db_session(), current_account()))


@bp.post("/sync")
def sync_now() -> tuple[Response, int]:
    full = forms.boolean(body(), "full")
    return done_json(actions.sync_now(web_state(), current_account(), full), 202)


@bp.get("/accounts")
def accounts() -> Response:
    return jsonify({"items": [account_dict(a) for a in list_accounts(db_session())]})


# --- activities ------------------------------------------------------------------------


@bp.get("/activities")
def activities() -> Response:
    state = web_state()
    filters = forms.activity_filters(request.args)
    page = list_activities(
        db_session(), current_account().id, filters, forms.paging(request.args), state.cache
    )
    return jsonify({**page.as_dict(), "filters": filters.as_dict()})


@bp.get("/activity-types")
def activity_types() -> Response:
    account = current_account()
    return jsonify({"items": panels.activity_types(web_state(), db_session(), account.id)})


@bp.post("/activities/enqueue")
def enqueue() -> tuple[Response, int]:
    filters = forms.activity_filters(body())
    return done_json(actions.enqueue_filtered(web_state(), current_account(), filters, db_session()), 202)


@bp.get("/activities/<activity_id>")
def activity(activity_id: str) -> Response:
    found = get_activity(db_session(), current_account().id, forms.activity_id(activity_id))
    return jsonify(activity_detail(db_session(), found))


@bp.post("/activities/<activity_id>/retry")
def retry(activity_id: str) -> tuple[Response, int]:
    number = forms.activity_id(activity_id)
    return done_json(actions.retry_activity(web_state(), current_account(), number), 202)


@bp.post("/activities/<activity_id>/verify")
def verify(activity_id: str) -> tuple[Response, int]:
    number = forms.activity_id(activity_id)
    return done_json(actions.verify_activity(web_state(), current_account(), number, db_session()))


@bp.get("/activities/<activity_id>/file")
def download(activity_id: str) -> Response:
    found = get_activity(db_session(), current_account().id, forms.activity_id(activity_id))
    return send_archived(web_state(), found)


# --- runs ------------------------------------------------------------------------------


@bp.get("/runs")
def runs() -> Response:
    filters = forms.run_filters(request.args)
    page = list_runs(
        db_session(), current_account().id, filters, forms.paging(request.args), web_state().cache
    )
    return jsonify({**page.as_dict(), "filters": filters.as_dict()})


@bp.get("/runs/<run_id>")
def run(run_id: str) -> Response:
    found = get_run(db_session(), current_account().id, int_id(run_id, "sync run"))
    return jsonify(run_row(found))


@bp.post("/runs/clear")
def clear_runs() -> tuple[Response, int]:
    days = forms.integer(body(), "older_than_days", 30, 0, 3650)
    return done_json(actions.clear_runs(web_state(), current_account(), days))


# --- tasks -----------------------------------------------------------------------------


@bp.get("/tasks")
def tasks() -> Response:
    filters = forms.task_filters(request.args)
    page = list_tasks(db_session(), filters, forms.paging(request.args), web_state().cache)
    return jsonify(
        {**page.as_dict(), "filters": filters.as_dict(), "counts": task_state_counts(db_session())}
    )


@bp.get("/tasks/<tid>")
def task(tid: str) -> Response:
    return jsonify(task_row(get_task(db_session(), task_id(tid))))


@bp.post("/tasks/<tid>/revoke")
def revoke(tid: str) -> tuple[Response, int]:
    return done_json(actions.revoke_task(web_state(), task_id(tid), db_session()), 202)


@bp.get("/workers")
def workers() -> Response:
    return jsonify(panels.workers(web_state()))


# --- schedule --------------------------------------------------------------------------


@bp.get("/schedule")
def schedule() -> Response:
    return jsonify(panels.schedule(web_state(), db_session(), current_account()))


@bp.route("/schedule", methods=["POST", "PUT"])
def set_schedule() -> tuple[Response, int]:
    data = body()
    cron = forms.text(data, "cron", 120)
    enabled = forms.boolean(data, "enabled") if "enabled" in data else None
    done = actions.set_schedule(web_state(), current_account(), cron, enabled)
    return jsonify({**done.as_dict(), **panels.schedule(web_state(), db_session(), current_account())}), 200


@bp.get("/schedule/preview")
def preview() -> Response:
    """What a cron means and when it would run next, before saving it.

    A question with a yes-or-no answer: an invalid expression is a 200 with
    `valid: false` and the reason (saving one is the 400).
    """
    raw = forms.text(request.args, "cron", 120)
    if raw is None:
        raise BadInput("give a cron expression as ?cron=")
    try:
        cron = validate_cron(raw)
    except UsageError as exc:
        return jsonify({"valid": False, "cron": raw, "error": str(exc)})
    return jsonify(
        {
            "valid": True,
            "cron": cron,
            "description": describe(cron),
            "next_runs": [moment.isoformat() for moment in next_runs(cron)],
        }
    )


# --- account ---------------------------------------------------------------------------


@bp.get("/account")
def account() -> Response:
    state = web_state()
    found = current_account()
    pending = state.pending.get(session.get(PENDING_KEY))
    return jsonify(
        {**account_dict(found), "pending_mfa": pending is not None and pending.account_id == found.id}
    )


@bp.post("/account/login")
def account_login() -> tuple[Response, int]:
    email, password = forms.credentials(body())
    done, key = actions.begin_login(web_state(), current_account().id, email, password)
    if key is not None:
        session[PENDING_KEY] = key
    return done_json(done)


@bp.post("/account/mfa")
def account_mfa() -> tuple[Response, int]:
    state = web_state()
    key = session.get(PENDING_KEY)
    try:
        done = actions.submit_mfa(state, key, forms.mfa_code(body()))
    finally:
        if state.pending.get(key) is None:
            session.pop(PENDING_KEY, None)
    return done_json(done)


# --- system ----------------------------------------------------------------------------


@bp.get("/system")
def system() -> Response:
    return jsonify(panels.system(web_state(), db_session(), current_account()))

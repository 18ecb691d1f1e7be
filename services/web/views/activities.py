"""Activities: the filtered, sorted, paged list; one activity; its file and actions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask import Blueprint, render_template, request, send_file, stream_with_context, url_for
from werkzeug.wrappers import Response

from shared.models import Activity, DownloadState
from shared.usecases import export as exporting

from .. import actions, forms, panels
from ..context import WebState, web_state
from ..errors import Missing
from ..extensions import db_session
from ..queries.activities import activity_detail, get_activity, list_activities
from .common import back, body, current_account, done_redirect

bp = Blueprint("activities", __name__, url_prefix="/activities")


@bp.get("")
def index() -> str:
    state = web_state()
    account = current_account()
    filters = forms.activity_filters(request.args)
    paging = forms.paging(request.args)
    page = list_activities(db_session(), account.id, filters, paging, state.cache)
    return render_template(
        "activities.html",
        page=page,
        filters=filters,
        paging=paging,
        types=panels.activity_types(state, db_session(), account.id),
        states=forms.ACTIVITY_STATES,
        per_page_choices=forms.PER_PAGE_CHOICES,
    )


@bp.get("/export.csv")
def export_csv() -> Response:
    """The filtered list as CSV (the same use case as `garminsync export`), streamed."""
    state = web_state()
    account = current_account()
    filters = forms.activity_filters(request.args)
    chunks = exporting.chunks(state.runtime, account.id, filters, "csv")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="garminsync-activities-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/enqueue")
def enqueue() -> Response:
    account = current_account()
    filters = forms.activity_filters(body())
    done = actions.enqueue_filtered(web_state(), account, filters, db_session())
    return done_redirect(done, back(url_for("activities.index")))


@bp.get("/<activity_id>")
def detail(activity_id: str) -> str:
    account = current_account()
    activity = get_activity(db_session(), account.id, forms.activity_id(activity_id))
    return render_template("activity.html", a=activity_detail(db_session(), activity))


@bp.post("/<activity_id>/retry")
def retry(activity_id: str) -> Response:
    number = forms.activity_id(activity_id)
    done = actions.retry_activity(web_state(), current_account(), number)
    return done_redirect(done, url_for("activities.detail", activity_id=number))


@bp.post("/<activity_id>/verify")
def verify(activity_id: str) -> Response:
    number = forms.activity_id(activity_id)
    done = actions.verify_activity(web_state(), current_account(), number, db_session())
    return done_redirect(done, url_for("activities.detail", activity_id=number))


@bp.get("/<activity_id>/file")
def download(activity_id: str) -> Response:
    account = current_account()
    activity = get_activity(db_session(), account.id, forms.activity_id(activity_id))
    return send_archived(web_state(), activity)


def send_archived(state: WebState, activity: Activity) -> Response:
    """The archived file, from a path the store recorded, confined to the data dir."""
    if activity.state != DownloadState.DOWNLOADED or not activity.file_path:
        raise Missing(f"activity {activity.id} has no archived file (state: {activity.state})")
    root = state.settings.data_dir.resolve()
    path = (root / activity.file_path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Missing(f"the archived file of activity {activity.id} is not on disk; run verify")
    return send_file(
        path,
        as_attachment=True,
        download_name=Path(activity.file_path).name,
        mimetype="application/vnd.ant.fit" if path.suffix == ".fit" else "application/octet-stream",
        max_age=0,
    )

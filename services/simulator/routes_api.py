"""Garmin's API paths: profile, activity list and count, detail, downloads.

The gate in ``app.py`` has already checked the bearer token when these run
and put its account in ``g.world``: every answer comes from that account
only, so another account's activity id is a 404, as on Garmin.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, g, jsonify, request

from . import data
from .account import AccountWorld
from .faults import EXPORT_FAULTS
from .responses import error, reason
from .state import MAX_LIST_LIMIT, SimState


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw)  # ValueError -> 400 by the caller
    if value < 0:
        raise ValueError(name)
    return value


def _world() -> AccountWorld:
    """The account of this request's bearer token (set by the gate)."""
    world: AccountWorld = g.world
    return world


def register(app: Flask, state: SimState) -> None:
    """Add Garmin's API routes."""

    @app.route("/userprofile-service/socialProfile")
    def social_profile() -> Response:
        acc = _world().profile
        return jsonify(
            {
                "id": acc.profile_id,
                "profileId": acc.profile_id,
                "garminGUID": _world().guid,
                "displayName": acc.display_name,
                "fullName": acc.full_name,
                "userName": acc.email,
                "profileImageType": "UPLOADED_PHOTO",
                "location": acc.home.name,
                "userLevel": 3,
                "userPoint": 120,
                "levelUpdateDate": "2024-03-01T10:00:00.0",
                "levelIsViewed": True,
                "userRoles": ["ROLE_CONNECTUSER", "ROLE_FITNESS_USER"],
            }
        )

    @app.route("/userprofile-service/userprofile/user-settings")
    def user_settings() -> Response:
        acc = _world().profile
        return jsonify(
            {
                "id": acc.profile_id,
                "userData": {
                    "gender": "FEMALE",
                    "weight": 61000.0,
                    "height": 168.0,
                    "timeFormat": "time_twenty_four_hr",
                    "birthDate": "1990-04-12",
                    "measurementSystem": "metric",
                    "activityLevel": 6,
                    "handedness": "RIGHT",
                    "firstDayOfWeek": {"dayId": 2, "dayName": "monday", "sortOrder": 2},
                },
                "userSleep": {"sleepTime": 80400, "wakeTime": 24000},
                "connectDate": None,
                "sourceType": None,
            }
        )

    @app.route("/userprofile-service/userprofile/personal-information/<name>")
    def personal_information(name: str) -> Response:
        acc = _world().profile
        if name != acc.display_name:
            return error(403, "Forbidden")
        return jsonify(
            {
                "userInfo": {"email": acc.email, "locale": "en"},
                "timeZone": acc.home.tz,
            }
        )

    @app.route("/activitylist-service/activities/search/activities")
    def search() -> Response:
        try:
            start = _int_arg("start", 0)
            limit = _int_arg("limit", 20)
            start_date = request.args.get("startDate")
            end_date = request.args.get("endDate")
            sd = data.parse_day(start_date) if start_date else None
            ed = data.parse_day(end_date) if end_date else None
        except ValueError:
            return error(400, "Invalid request parameters")
        if limit > MAX_LIST_LIMIT:
            return error(400, f"limit must be less than or equal to {MAX_LIST_LIMIT}")
        order = (request.args.get("sortOrder") or "desc").lower()
        acts = _world().search(
            start=start,
            limit=limit,
            activity_type=request.args.get("activityType") or None,
            start_date=sd,
            end_date=ed,
            ascending=order == "asc",
        )
        return _json_list([data.list_item(a, _world().profile) for a in acts])

    @app.route("/activitylist-service/activities/count")
    def count() -> Response:
        counts: dict[str, int] = {}
        for a in _world().activities():
            counts[a.type_key] = counts.get(a.type_key, 0) + 1
        return jsonify({"countMap": counts, "totalCount": sum(counts.values())})

    @app.route("/activity-service/activity/<int:activity_id>")
    def activity_detail(activity_id: int) -> Response:
        act = _world().get_activity(activity_id)
        if act is None:
            return error(404, "Activity not found")
        return jsonify(data.detail(act, _world().profile, _world().track(activity_id)))

    @app.route("/download-service/files/activity/<int:activity_id>")
    def original(activity_id: int) -> Response:
        act = _world().get_activity(activity_id)
        if act is None:
            return error(404, "Activity not found")
        if act.kind == "manual":
            status = state.manual_status
            return error(status, "No file found for activity" if status == 404 else reason(status))
        fault = state.faults.take_file_fault(activity_id)
        if fault is not None:
            state.traffic.event("fault", _world())
        body = _world().original_zip(activity_id, fault)
        resp = Response(body, mimetype="application/x-zip-compressed")
        resp.headers["Content-Disposition"] = f'attachment; filename="{activity_id}.zip"'
        return resp

    @app.route("/download-service/export/<fmt>/activity/<int:activity_id>")
    def export(fmt: str, activity_id: int) -> Response:
        if fmt not in ("gpx", "tcx"):
            return error(404, "Not Found")
        act = _world().get_activity(activity_id)
        if act is None or act.kind == "manual":
            return error(404, "Activity not found")
        fault = state.faults.take_file_fault(activity_id, EXPORT_FAULTS)
        if fault is not None:
            state.traffic.event("fault", _world())
        mimetype = "application/gpx+xml" if fmt == "gpx" else "application/vnd.garmin.tcx+xml"
        resp = Response(_world().export(activity_id, fmt, fault), mimetype=mimetype)
        resp.headers["Content-Disposition"] = f'attachment; filename="activity_{activity_id}.{fmt}"'
        return resp


def _json_list(items: list[dict[str, Any]]) -> Response:
    return Response(json.dumps(items, ensure_ascii=False), mimetype="application/json")

"""The ``/__sim/`` control API: faults, config, activities, tokens, stats.

Tests and benchmarks use it to steer the simulator over HTTP; it needs no
auth and its requests are not counted.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from .faults import FaultSpecError
from .responses import error
from .state import MFA_CODE, SimState


def _body() -> Any:
    return request.get_json(silent=True, force=True)


def register(app: Flask, state: SimState) -> None:
    @app.route("/__sim/health")
    def health() -> Response:
        return jsonify({"ok": True})

    @app.route("/__sim/faults", methods=["GET", "POST", "DELETE"])
    def faults() -> Response:
        if request.method == "DELETE":
            state.clear_faults()
            return jsonify(state.faults.describe())
        if request.method == "GET":
            return jsonify(state.faults.describe())
        try:
            return jsonify(state.set_faults(_body()))
        except FaultSpecError as err:
            return error(400, str(err))

    @app.route("/__sim/config", methods=["GET", "POST"])
    def config() -> Response:
        if request.method == "GET":
            return jsonify(state.config())
        body = _body()
        if not isinstance(body, dict):
            return error(400, "expected a JSON object")
        try:
            return jsonify(state.configure(**body))
        except (ValueError, TypeError) as err:
            return error(400, str(err))

    @app.route("/__sim/activities", methods=["GET", "POST"])
    def activities() -> Response:
        if request.method == "GET":
            return jsonify(
                [
                    {
                        "activityId": a.activity_id,
                        "kind": a.kind,
                        "typeKey": a.type_key,
                        "activityName": a.name,
                        "startTimeGMT": a.start_utc.strftime("%Y-%m-%d %H:%M:%S"),
                    }
                    for a in state.activities()
                ]
            )
        body = _body() or {}
        n = body.get("count", 1) if isinstance(body, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > 100_000:
            return error(400, "count must be an integer between 0 and 100000")
        try:
            ids = state.add_activities(n, kind=body.get("kind"))
        except ValueError as err:
            return error(400, str(err))
        return jsonify({"ids": ids})

    @app.route("/__sim/activities/<int:activity_id>", methods=["DELETE"])
    def delete_activity(activity_id: int) -> Response:
        if not state.delete_activity(activity_id):
            return error(404, "Activity not found")
        return jsonify({"deleted": activity_id})

    @app.route("/__sim/revoke", methods=["POST"])
    def revoke() -> Response:
        body = _body() or {}
        revoked = state.revoke_refresh_tokens()
        if isinstance(body, dict) and body.get("access_tokens"):
            state.revoke_access_tokens()
        return jsonify({"revoked_refresh_tokens": revoked})

    @app.route("/__sim/tokens", methods=["POST"])
    def tokens() -> Response:
        body = _body() or {}
        ttl = body.get("ttl") if isinstance(body, dict) else None
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
            return error(400, "ttl must be a positive integer")
        return jsonify(state.issue_tokens(ttl=ttl))

    @app.route("/__sim/stats")
    def stats() -> Response:
        windows: list[float] = [1.0, 10.0, 60.0]
        try:
            windows += [float(w) for w in request.args.getlist("window")]
        except ValueError:
            return error(400, "window must be a number of seconds")
        return jsonify(state.stats(windows))

    @app.route("/__sim/stats/reset", methods=["POST"])
    def stats_reset() -> Response:
        state.reset_stats()
        return jsonify({"ok": True})

    @app.route("/__sim/account")
    def account() -> Response:
        acc = state.account
        return jsonify(
            {
                "email": acc.email,
                "mfa": acc.mfa,
                "mfa_code": MFA_CODE,
                "displayName": acc.display_name,
                "fullName": acc.full_name,
                "profileId": acc.profile_id,
            }
        )

"""The ``/__sim/`` control API: accounts, faults, config, activities, tokens, stats.

Tests and benchmarks use it to steer the simulator over HTTP; it needs no
auth and its requests are not counted. Requests about one account name it
with ``account`` (a query parameter, or a key of a POST's JSON body);
without it they mean the default account, and an unknown one is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from .faults import FaultSpecError
from .registry import AccountExists, UnknownAccount
from .responses import error
from .state import DEFAULT_PASSWORD, MFA_CODE, SimState

_NEW_ACCOUNT_KEYS = {
    "email",
    "password",
    "activities",
    "seed",
    "rate_limit",
    "mfa",
    "display_name",
    "full_name",
}


def _body() -> Any:
    return request.get_json(silent=True, force=True)


def _object() -> dict[str, Any]:
    """The JSON body as an object ({} when there is none); ValueError for anything else."""
    body = _body()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _account(body: dict[str, Any]) -> str | None:
    """The account a control request is about: ``?account=``, else the body's ``account``."""
    value = request.args.get("account", body.get("account"))
    if value is not None and not isinstance(value, str):
        raise ValueError("account must be an email")
    return value


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 100_000:
        raise ValueError(f"{name} must be an integer between 0 and 100000")
    return value


# PATCH /__sim/activities/<id>: what the athlete can change on Garmin Connect.
_EDITS = {"name": str, "type_key": str, "duration_s": float, "start_shift_s": float}


def _edit(key: str, value: Any) -> Any:
    kind = _EDITS[key]
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ValueError(f"{key} must be a {'number' if kind is float else 'string'}")


def register(app: Flask, state: SimState) -> None:
    """Add the control routes; a bad body is a 400, an unknown account a 404."""
    bp = Blueprint("control", __name__, url_prefix="/__sim")

    @bp.errorhandler(UnknownAccount)
    def unknown_account(err: UnknownAccount) -> Response:
        return error(404, str(err))

    @bp.errorhandler(ValueError)
    def bad_request(err: ValueError) -> Response:
        return error(400, str(err))

    @bp.route("/health")
    def health() -> Response:
        return jsonify({"ok": True})

    @bp.route("/accounts", methods=["GET", "POST"])
    def accounts() -> Response:
        if request.method == "GET":
            return jsonify([w.describe() for w in state.registry.all()])
        body = _object()
        unknown = set(body) - _NEW_ACCOUNT_KEYS
        if unknown:
            raise ValueError(f"unknown account keys: {sorted(unknown)}")
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        names = {k: body.get(k) for k in ("display_name", "full_name")}
        if any(v is not None and not isinstance(v, str) for v in names.values()):
            raise ValueError("display_name and full_name must be strings")
        try:
            email = state.add_account(
                body.get("email", ""),  # add_account checks it is an email
                body.get("password", DEFAULT_PASSWORD),
                activities=_count(body.get("activities", 0), "activities"),
                seed=seed,
                rate_limit=body.get("rate_limit"),
                mfa=bool(body.get("mfa", False)),
                **names,
            )
        except AccountExists as err:
            return error(409, str(err))
        return jsonify({"email": email, "tokens": state.issue_tokens(account=email)})

    @bp.route("/account")
    def account() -> Response:
        return jsonify({**state.world(_account({})).describe(), "mfa_code": MFA_CODE})

    @bp.route("/faults", methods=["GET", "POST", "DELETE"])
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

    @bp.route("/config", methods=["GET", "POST"])
    def config() -> Response:
        if request.method == "GET":
            return jsonify(state.config(account=_account({})))
        body = _body()
        if not isinstance(body, dict):
            return error(400, "expected a JSON object")
        options = {k: v for k, v in body.items() if k != "account"}
        try:
            return jsonify(state.configure(account=_account(body), **options))
        except TypeError as err:
            return error(400, str(err))

    @bp.route("/activities", methods=["GET", "POST"])
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
                    for a in state.activities(account=_account({}))
                ]
            )
        body = _object()
        count = _count(body.get("count", 1), "count")
        return jsonify({"ids": state.add_activities(count, kind=body.get("kind"), account=_account(body))})

    @bp.route("/activities/<int:activity_id>", methods=["DELETE", "PATCH"])
    def change_activity(activity_id: int) -> Response:
        body = _object()
        if request.method == "DELETE":
            if not state.delete_activity(activity_id, account=_account(body)):
                return error(404, "Activity not found")
            return jsonify({"deleted": activity_id})
        unknown = set(body) - {"account", *_EDITS}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        changes = {key: _edit(key, body[key]) for key in _EDITS if body.get(key) is not None}
        if not state.edit_activity(activity_id, account=_account(body), **changes):
            return error(404, "Activity not found")
        return jsonify({"changed": activity_id, **changes})

    @bp.route("/revoke", methods=["POST"])
    def revoke() -> Response:
        body = _object()
        account = _account(body)
        revoked = state.revoke_refresh_tokens(account=account)
        if body.get("access_tokens"):
            state.revoke_access_tokens(account=account)
        return jsonify({"revoked_refresh_tokens": revoked})

    @bp.route("/tokens", methods=["POST"])
    def tokens() -> Response:
        body = _object()
        ttl, refresh_ttl = body.get("ttl"), body.get("refresh_ttl")
        for name, value in (("ttl", ttl), ("refresh_ttl", refresh_ttl)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                return error(400, f"{name} must be a positive integer")
        return jsonify(state.issue_tokens(ttl=ttl, account=_account(body), refresh_ttl=refresh_ttl))

    @bp.route("/stats")
    def stats() -> Response:
        windows: list[float] = [1.0, 10.0, 60.0]
        try:
            windows += [float(w) for w in request.args.getlist("window")]
        except ValueError:
            return error(400, "window must be a number of seconds")
        return jsonify(state.stats(windows, account=_account({})))

    @bp.route("/stats/reset", methods=["POST"])
    def stats_reset() -> Response:
        state.reset_stats(account=_account(_object()))
        return jsonify({"ok": True})

    app.register_blueprint(bp)

"""Everything the dashboard does, as opposed to shows: enqueue, retry, revoke, change.

Pages and the JSON API call the same functions. Work goes to Celery through
the broker (Redis mode) or to the single background runner (embedded mode);
writes use the project's short explicit sessions (`shared.db.create_session`).
Failures leave as `WebError`s or the project's own errors, each with one clear
line, and a failed hand-off gives its claims back so nothing is stuck.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import jobs
from shared.db import create_session
from shared.errors import AuthRequired, BrokerUnavailable, GarminSyncError, RateLimited, StorageError
from shared.models import Account, DownloadState, SyncRun
from shared.planning import claim_ids, release
from shared.runs import fail_run
from shared.schedules import set_cron, set_enabled
from shared.tokens import write_token_file
from shared.verify import check_one

from .context import WebState
from .errors import BadInput, Conflict
from .forms import ActivityFilters
from .pending import MAX_CODE_TRIES, PendingLogin
from .queries import as_utc, delete_runs_before, filtered_ids, get_activity, get_task

log = logging.getLogger(__name__)

BULK_LIMIT = 10_000
CLAIM_CHUNK = 500
RETRYABLE = (DownloadState.MISSING, DownloadState.FAILED)


@dataclass(frozen=True)
class Done:
    """What an action did: a line for the page and data for the API."""

    message: str
    data: dict[str, Any]
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"message": self.message, **self.data}
        if self.warning:
            out["warning"] = self.warning
        return out


def _mode(state: WebState) -> str:
    return "embedded" if state.embedded else "redis"


def _require_broker(state: WebState) -> None:
    if not state.embedded and not state.broker.redis_ping():
        raise BrokerUnavailable(
            "Redis is unreachable: nothing can be queued right now (read-only until it is back)"
        )


def sync_now(state: WebState, account: Account, full: bool = False) -> Done:
    """Open a run first so the page can follow it, then hand it on."""
    if state.runner is not None:
        state.runner.ensure_idle()
    _require_broker(state)
    account_id, run_id = jobs.open_run(state.runtime, account.name, "web", full)
    state.cache.clear()
    try:
        if state.runner is not None:
            state.runner.start_sync(account_id, run_id, full)
            return Done(
                f"Sync run #{run_id} started in the web process (embedded mode).",
                {"run_id": run_id, "task_id": None, "mode": "embedded"},
            )
        task_id = state.broker.enqueue_sync(account_id, run_id, full, None)
    except (GarminSyncError, Conflict) as exc:
        with create_session(state.settings.database_url) as session:
            fail_run(session, run_id, str(exc))
        raise
    with create_session(state.settings.database_url) as session:
        run = session.get(SyncRun, run_id)
        if run is not None and not run.task_id:
            run.task_id = task_id
    return Done(f"Sync run #{run_id} queued.", {"run_id": run_id, "task_id": task_id, "mode": "redis"})


def _claim(state: WebState, account_id: int, ids: list[int]) -> list[int]:
    claimed: list[int] = []
    with create_session(state.settings.database_url) as session:
        for start in range(0, len(ids), CLAIM_CHUNK):
            claimed.extend(claim_ids(session, account_id, ids[start : start + CLAIM_CHUNK]))
    return claimed


def _hand_on(state: WebState, account_id: int, claimed: list[int]) -> None:
    try:
        if state.runner is not None:
            state.runner.start_downloads(account_id, claimed)
        else:
            state.broker.enqueue_downloads(claimed)
    except (GarminSyncError, Conflict):
        with create_session(state.settings.database_url) as session:
            release(session, claimed)
        raise
    finally:
        state.cache.clear()


def retry_activity(state: WebState, account: Account, activity_id: int) -> Done:
    """Download (again) one activity, whatever its state, unless it is in flight."""
    if state.runner is not None:
        state.runner.ensure_idle()
    _require_broker(state)
    claimed = _claim(state, account.id, [activity_id])
    if not claimed:
        raise Conflict(f"activity {activity_id} is already queued or downloading")
    _hand_on(state, account.id, claimed)
    where = "in the web process" if state.runner is not None else "for the workers"
    return Done(f"Activity {activity_id} queued {where}.", {"queued": claimed, "mode": _mode(state)})


def enqueue_filtered(state: WebState, account: Account, filters: ActivityFilters, session: Any) -> Done:
    """Queue every missing or failed activity of the filtered set (capped per click)."""
    if state.runner is not None:
        state.runner.ensure_idle()
    _require_broker(state)
    ids = filtered_ids(session, account.id, filters, RETRYABLE)
    capped = ids[:BULK_LIMIT]
    claimed = _claim(state, account.id, capped) if capped else []
    if claimed:
        _hand_on(state, account.id, claimed)
    more = len(ids) - len(capped)
    message = f"Queued {len(claimed)} download(s)."
    if more > 0:
        message += f" {more} more match: click again once these are done."
    if not ids:
        message = "Nothing to queue: no missing or failed activity matches the filters."
    return Done(
        message, {"queued": len(claimed), "matched": len(ids), "remaining": more, "mode": _mode(state)}
    )


def verify_activity(state: WebState, account: Account, activity_id: int, session: Any) -> Done:
    """Re-check the archived file's size, sha256 and FIT CRC (read-only)."""
    activity = get_activity(session, account.id, activity_id)
    if activity.state != DownloadState.DOWNLOADED:
        raise Conflict(f"activity {activity_id} is not archived (state: {activity.state}); nothing to verify")
    reason = check_one(state.runtime.storage, activity)
    if reason is None:
        return Done(f"Activity {activity_id}: the file is intact.", {"ok": True, "reason": None})
    return Done(
        f"Activity {activity_id}: {reason}. Use “Download again” to replace it.",
        {"ok": False, "reason": reason},
    )


def revoke_task(state: WebState, task_id: str, session: Any) -> Done:
    task = get_task(session, task_id)
    if state.embedded:
        raise Conflict("embedded mode has no Celery tasks to revoke")
    if task.state not in ("queued", "started", "retried"):
        raise Conflict(f"task {task_id} has already ended ({task.state}); nothing to revoke")
    state.broker.revoke(task_id)
    state.cache.clear()
    return Done(f"Revoke sent for task {task_id}.", {"task_id": task_id, "revoked": True})


def clear_runs(state: WebState, account: Account, older_than_days: int) -> Done:
    before = datetime.now(UTC) - timedelta(days=older_than_days)
    with create_session(state.settings.database_url) as session:
        deleted = delete_runs_before(session, account.id, before)
    state.cache.clear()
    return Done(
        f"Removed {deleted} sync run(s) older than {older_than_days} day(s).",
        {"deleted": deleted, "older_than_days": older_than_days},
    )


# --- schedule ----------------------------------------------------------------------


def _mirror(state: WebState) -> str | None:
    """Tell beat (RedBeat) at once; the database stays the source of truth either way."""
    if state.embedded:
        return None
    try:
        state.broker.mirror_schedules()
    except Exception as exc:  # Redis down, or a beat that is not there yet
        log.warning("could not mirror schedules into RedBeat: %s", exc)
        return "Saved in the database; Redis could not be updated now, beat restores it when it is back."
    return None


def set_schedule(state: WebState, account: Account, cron: str | None, enabled: bool | None) -> Done:
    if cron is None and enabled is None:
        raise BadInput("give a cron expression, enabled, or both")
    with create_session(state.settings.database_url) as session:
        if cron is not None:
            set_cron(session, account.id, cron)
        if enabled is not None:
            set_enabled(session, account.id, enabled)
    warning = _mirror(state)
    state.cache.clear()
    parts = []
    if cron is not None:
        parts.append("cron saved")
    if enabled is not None:
        parts.append("schedule enabled" if enabled else "schedule disabled")
    return Done(", ".join(parts).capitalize() + ".", {}, warning)


# --- Garmin login ----------------------------------------------------------------------


def _detached_account(state: WebState, account_id: int) -> Account:
    with create_session(state.settings.database_url) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise BadInput(f"unknown account id {account_id}")
        session.expunge(account)
        return account


def _check_not_blocked(state: WebState, account_id: int) -> None:
    blocked = as_utc(state.runtime.tokens(account_id).login_blocked_until())
    if blocked and blocked > datetime.now(UTC):
        raise RateLimited(
            f"logins for this account are paused after a failed attempt until "
            f"{blocked:%H:%M:%S} UTC (GARMINSYNC_LOGIN_BACKOFF)"
        )


def begin_login(state: WebState, account_id: int, email: str, password: str) -> tuple[Done, str | None]:
    """Log in; returns the pending key when Garmin asks for an MFA code."""
    _check_not_blocked(state, account_id)
    account = _detached_account(state, account_id)
    gateway = state.runtime.gateway(account)
    try:
        profile, mfa_state = gateway.begin_login(email, password)
    except (AuthRequired, RateLimited):
        state.runtime.tokens(account_id).block_logins(state.settings.login_backoff_s)
        raise
    if mfa_state is not None:
        key = state.pending.put(PendingLogin(account_id, email, mfa_state))
        return Done("Garmin sent a security code: enter it below.", {"status": "needs_mfa"}), key
    assert profile is not None
    return _finish_login(state, account_id, email, profile), None


def submit_mfa(state: WebState, key: str | None, code: str) -> Done:
    pending = state.pending.get(key)
    if pending is None:
        raise BadInput("this login has expired (codes are kept 10 minutes): start again")
    account = _detached_account(state, pending.account_id)
    gateway = state.runtime.gateway(account)
    try:
        profile = gateway.resume_login(pending.state, code)
    except AuthRequired:
        pending.tries += 1
        if pending.tries >= MAX_CODE_TRIES:
            state.pending.drop(key)
            state.runtime.tokens(pending.account_id).block_logins(state.settings.login_backoff_s)
            raise AuthRequired(
                "the MFA code was not accepted; too many tries, start the login again"
            ) from None
        state.pending.put(pending, key)
        raise
    state.pending.drop(key)
    return _finish_login(state, pending.account_id, pending.email, profile)


def _finish_login(state: WebState, account_id: int, email: str, profile: Any) -> Done:
    warning = None
    with create_session(state.settings.database_url) as session:
        stored = session.get(Account, account_id)
        assert stored is not None
        stored.email = email
        stored.display_name = profile.display_name or stored.display_name
        stored.full_name = profile.full_name or stored.full_name
        stored.login_blocked_until = None
        is_default = stored.name == "default"
    if is_default:
        try:
            write_token_file(state.settings.tokens_location, profile.tokens)
        except StorageError as exc:
            warning = f"Tokens are stored in the database; the token file could not be written: {exc}"
    who = profile.full_name or profile.display_name or email
    return Done(f"Logged in to Garmin as {who}.", {"status": "logged_in", "display_name": who}, warning)

"""Everything the dashboard does, as opposed to shows: each action is one use case
(`shared.usecases`) and the line the page flashes or the API answers.

Pages and the JSON API call the same functions. Work goes where
`WebState.delivery` says: the workers (Redis mode) or the single background
runner (embedded mode). Failures leave as `WebError`s or the project's own
errors, each with one clear line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from shared.db import create_session
from shared.errors import AuthRequired
from shared.models import Account, DownloadState
from shared.runs import delete_runs_before
from shared.states import RETRYABLE_STATES
from shared.usecases import login, schedule
from shared.usecases import notify as notifications
from shared.usecases.delivery import REDIS
from shared.usecases.downloads import download
from shared.usecases.sync import sync
from shared.verify import Tally, check_one

from .context import WebState
from .errors import BadInput, Conflict
from .forms import ActivityFilters
from .queries.activities import filtered_ids, get_activity
from .queries.tasks import ACTIVE_TASK_STATES, get_task

BULK_LIMIT = 10_000


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


def sync_now(state: WebState, account: Account, full: bool = False) -> Done:
    """Open a run first so the page can follow it, then hand it on."""
    try:
        handed = sync(state.runtime, state.delivery, account.id, "web", full=full)
    finally:
        state.cache.clear()
    data = {"run_id": handed.run_id, "task_id": handed.task_id, "mode": handed.mode}
    if handed.mode == REDIS:
        return Done(f"Sync run #{handed.run_id} queued.", data)
    return Done(f"Sync run #{handed.run_id} started in the web process (embedded mode).", data)


def _download(state: WebState, account: Account, ids: list[int]) -> list[int]:
    try:
        return download(state.runtime, state.delivery, account.id, ids).activity_ids
    finally:
        state.cache.clear()


def retry_activity(state: WebState, account: Account, activity_id: int) -> Done:
    """Download (again) one activity, whatever its state, unless it is in flight."""
    claimed = _download(state, account, [activity_id])
    if not claimed:
        raise Conflict(f"activity {activity_id} is already queued or downloading")
    where = "for the workers" if state.delivery.mode == REDIS else "in the web process"
    return Done(f"Activity {activity_id} queued {where}.", {"queued": claimed, "mode": state.delivery.mode})


def enqueue_filtered(state: WebState, account: Account, filters: ActivityFilters, session: Session) -> Done:
    """Queue every missing or failed activity of the filtered set (capped per click)."""
    ids = filtered_ids(session, account.id, filters, RETRYABLE_STATES)
    capped = ids[:BULK_LIMIT]
    claimed = _download(state, account, capped)
    more = len(ids) - len(capped)
    message = f"Queued {len(claimed)} download(s)."
    if more > 0:
        message += f" {more} more match: click again once these are done."
    if not ids:
        message = "Nothing to queue: no missing or failed activity matches the filters."
    data = {"queued": len(claimed), "matched": len(ids), "remaining": more, "mode": state.delivery.mode}
    return Done(message, data)


def verify_activity(state: WebState, account: Account, activity_id: int, session: Session) -> Done:
    """Re-check the archived file's size, sha256 and FIT CRC, and decode it (read-only)."""
    activity = get_activity(session, account.id, activity_id)
    if activity.state != DownloadState.DOWNLOADED:
        raise Conflict(f"activity {activity_id} is not archived (state: {activity.state}); nothing to verify")
    problem = check_one(state.runtime.storage, activity, Tally())
    reason = problem.reason if problem else None
    if reason is None:
        return Done(f"Activity {activity_id}: the file is intact.", {"ok": True, "reason": None})
    return Done(
        f"Activity {activity_id}: {reason}. Use “Download again” to replace it.",
        {"ok": False, "reason": reason},
    )


def revoke_task(state: WebState, task_id: str, session: Session) -> Done:
    task = get_task(session, task_id)
    if state.embedded:
        raise Conflict("embedded mode has no Celery tasks to revoke")
    if task.state not in ACTIVE_TASK_STATES:
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


def set_schedule(state: WebState, account: Account, cron: str | None, enabled: bool | None) -> Done:
    queue = None if state.embedded else state.broker
    changed = schedule.change(state.runtime, queue, account.id, cron=cron, enabled=enabled)
    state.cache.clear()
    parts = []
    if cron is not None:
        parts.append("cron saved")
    if enabled is not None:
        parts.append("schedule enabled" if enabled else "schedule disabled")
    warning = None
    if changed.mirror == schedule.Mirror.LATER:
        warning = "Saved in the database; Redis could not be updated now, beat restores it when it is back."
    return Done(", ".join(parts).capitalize() + ".", {}, warning)


def set_notify_urls(state: WebState, account: Account, text: str | None) -> Done:
    """Replace (or, empty, remove) the account's own notification URLs; shown by scheme and host."""
    shown = notifications.set_account_urls(state.runtime, account.id, text)
    if not shown:
        return Done("The account's own notification URLs are removed.", {"account_targets": []})
    return Done(f"Notifications of {account.name} also go to {', '.join(shown)}.", {"account_targets": shown})


def test_notification(state: WebState, account: Account) -> Done:
    """Send one test notification now (DeliveryFailed, ConfigError: the reason, without secrets)."""
    sent = notifications.send_test(state.runtime, account.id)
    return Done(f"Test notification sent to {sent['targets']}.", {"notification": sent})


# --- Garmin login ----------------------------------------------------------------------


def begin_login(state: WebState, account_id: int, email: str, password: str) -> tuple[Done, str | None]:
    """Log in; returns the pending key when Garmin asks for an MFA code."""
    result = login.begin(state.runtime, account_id, email, password)
    if isinstance(result, login.PendingLogin):
        key = state.pending.put(result)
        return Done("Garmin sent a security code: enter it below.", {"status": "needs_mfa"}), key
    return _logged_in(result), None


def submit_mfa(state: WebState, key: str | None, code: str) -> Done:
    pending = state.pending.get(key)
    if pending is None:
        raise BadInput("this login has expired (codes are kept 10 minutes): start again")
    try:
        result = login.submit_code(state.runtime, pending, code)
    except AuthRequired:
        if pending.exhausted:
            state.pending.drop(key)
        else:
            state.pending.put(pending, key)
        raise
    state.pending.drop(key)
    return _logged_in(result)


def _logged_in(result: login.LoggedIn) -> Done:
    data = {"status": "logged_in", "display_name": result.who}
    return Done(f"Logged in to Garmin as {result.who}.", data, result.warning)

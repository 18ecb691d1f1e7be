"""Read-side queries shared by the CLI and the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.backlog import account_backlog
from shared.db import create_session
from shared.extras import archived_formats
from shared.garmin_values import finite
from shared.models import Account, Activity, DownloadState, SyncRun
from shared.notify import history
from shared.notify.expiry import expiry
from shared.planning import Filters
from shared.ratelimit import account_key
from shared.redact import mask_url
from shared.runtime import Runtime
from shared.states import MISSING_STATES


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the second."""
    utc = as_utc(moment)
    return utc.isoformat(timespec="seconds") if utc else None


# Every field of an activity that is shown, and how: `list --json`, the dashboard's
# list (a subset of keys, read from a narrower SELECT) and its detail page.
_ACTIVITY_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": lambda a: a.id,
    "account_id": lambda a: a.account_id,
    "name": lambda a: a.name,
    "type": lambda a: a.activity_type,
    "start_time": lambda a: iso(a.start_time),
    "start_time_local": lambda a: a.start_time_local.isoformat() if a.start_time_local else None,
    # A value stored before `shared.garmin_values` checked them may be Infinity: not JSON.
    "duration_s": lambda a: finite(a.duration_s),
    "distance_m": lambda a: finite(a.distance_m),
    "manual": lambda a: a.manual,
    "deleted_upstream": lambda a: a.deleted_upstream,
    "deleted_at": lambda a: iso(a.deleted_at),
    "state": lambda a: a.state,
    "attempts": lambda a: a.attempts,
    "last_error": lambda a: a.last_error,
    "file_format": lambda a: a.file_format,
    "file_path": lambda a: a.file_path,
    "file_size": lambda a: a.file_size,
    "sha256": lambda a: a.sha256,
    "queued_at": lambda a: iso(a.queued_at),
    "downloaded_at": lambda a: iso(a.downloaded_at),
    "updated_at": lambda a: iso(a.updated_at),
}
ACTIVITY_KEYS = tuple(_ACTIVITY_FIELDS)


def activity_dict(activity: Any, keys: Iterable[str] = ACTIVITY_KEYS) -> dict[str, Any]:
    """An activity (or a row with the attributes `keys` need) as the CLI and the dashboard show it."""
    return {key: _ACTIVITY_FIELDS[key](activity) for key in keys}


def account_dict(account: Account) -> dict[str, Any]:
    """Who is logged in and the token state; never the tokens themselves."""
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "display_name": account.display_name,
        "full_name": account.full_name,
        "token_state": account.token_state,
        "token_error": account.token_error,
        "token_updated_at": iso(account.token_updated_at),
        "login_blocked_until": iso(account.login_blocked_until),
        "refresh_expires_at": iso(account.refresh_expires_at),
        "history_complete": account.history_complete,
        "last_sync_at": iso(account.last_sync_at),
    }


def activity_rows(
    db_url: str, account_id: int, which: str, filters: Filters, limit: int | None = None
) -> list[dict[str, Any]]:
    """`which`: all, missing (`shared.states`: not archived and on its way), downloaded, or
    deleted (on Garmin; kept here)."""
    query = select(Activity).where(Activity.account_id == account_id, *filters.clauses())
    if which == "deleted":
        query = query.where(Activity.deleted_upstream.is_(True))
    elif which == "missing":
        query = query.where(Activity.state.in_(MISSING_STATES))
    elif which == "downloaded":
        query = query.where(Activity.state == DownloadState.DOWNLOADED)
    query = query.order_by(Activity.start_time.desc())
    if limit:
        query = query.limit(limit)
    with create_session(db_url) as session:
        activities = list(session.scalars(query))
        formats = archived_formats(session, archived_originals(activities))
        return [{**activity_dict(activity), "formats": formats[activity.id]} for activity in activities]


def archived_originals(rows: Iterable[Any]) -> dict[int, str | None]:
    """Per activity (or row with id, state, file_format): its archived original's format, or None."""
    return {row.id: row.file_format if row.state == DownloadState.DOWNLOADED else None for row in rows}


def find_run(db_url: str, run_id: int) -> SyncRun | None:
    with create_session(db_url) as session:
        return session.get(SyncRun, run_id)


def run_dict(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "account_id": run.account_id,
        "trigger": run.trigger,
        "full": run.full,
        "status": run.status,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "list_requests": run.list_requests,
        "found": run.found,
        "new": run.new,
        "deleted": run.deleted,
        "updated": run.updated,
        "changed": run.changed,
        "queued": run.queued,
        "downloaded": run.downloaded,
        "failed": run.failed,
        "no_file": run.no_file,
        "message": run.message,
        "task_id": run.task_id,
        "error_kind": run.error_kind,
    }


def state_counts(session: Session, account_id: int) -> dict[str, int]:
    """Activities per download state, every state present (zero when none)."""
    counts = dict.fromkeys((state.value for state in DownloadState), 0)
    query = (
        select(Activity.state, func.count()).where(Activity.account_id == account_id).group_by(Activity.state)
    )
    for state, count in session.execute(query).tuples():
        counts[state] = int(count)
    return counts


def status_report(runtime: Runtime, account_id: int) -> dict[str, Any]:
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        counts = state_counts(session, account_id)
        deleted = session.scalar(
            select(func.count()).where(Activity.account_id == account_id, Activity.deleted_upstream.is_(True))
        )
        account = session.get(Account, account_id)
        last = session.scalars(
            select(SyncRun).where(SyncRun.account_id == account_id).order_by(SyncRun.id.desc()).limit(1)
        ).first()
        account_info = account_dict(account) if account else {}
        last_run = run_dict(last) if last else None
        backlog = account_backlog(session, account_id)
        token_expiry = expiry(account.refresh_expires_at, settings.token_warn_days) if account else None
        notifications = history.overview(session, settings, runtime.cipher, account_id, limit=5)
    # At the budget's pace; the lower bound a first sync of this backlog can take.
    backlog["eta_s"] = round((backlog["waiting"] + backlog["published"]) / settings.rate.per_second)
    try:
        cooldown = runtime.limiter.cooldown_remaining(account_key(account_id))
    except Exception:  # Redis down: status still answers from the store
        cooldown = 0.0
    return {
        "account": account_info,
        "counts": counts,
        "total": sum(counts.values()),
        "deleted_on_garmin": int(deleted or 0),  # kept in the archive (`list --deleted`, `prune`)
        "last_run": last_run,
        "backlog": backlog,
        "cooldown_s": cooldown,
        "token_expiry": token_expiry,
        "notifications": notifications,
        "data_dir": str(settings.data_dir),
        "database": mask_url(settings.database_url),
        "mode": "embedded" if settings.embedded else "redis",
        "rate_limit": str(settings.rate),
    }

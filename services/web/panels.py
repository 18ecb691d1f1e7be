"""What each page shows, assembled from the queries: one dict per panel.

The HTML page renders the dict on first load and the page's JavaScript polls
the same dict from `/api/...`, so the two can never disagree.
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.models import Account
from shared.notify import history
from shared.notify.expiry import expiry
from shared.redact import mask_url
from shared.reports import account_dict
from shared.schedules import PRESETS, ScheduleView, get_schedule, reconcile_view
from shared.states import counters

from .context import WebState, broker_health
from .queries.activities import cached_state_counts, list_activity_types
from .queries.charts import CHART_TTL_S, month_counts
from .queries.runs import current_run, recent_runs
from .queries.system import archive_bytes, database_size, disk_usage, last_errors, table_counts

TYPES_TTL_S = 60.0
REDIS_TTL_S = 5.0


def mode(state: WebState) -> str:
    return "embedded" if state.embedded else "redis"


def redis_ok(state: WebState) -> bool | None:
    """None in embedded mode; else whether Redis answered (cached a few seconds)."""
    if state.embedded:
        return None
    return bool(state.cache.get_or_set("redis-ok", REDIS_TTL_S, state.broker.redis_ping))


def counts(state: WebState, session: Session, account_id: int) -> dict[str, int]:
    return cached_state_counts(session, account_id, state.cache)


def activity_types(state: WebState, session: Session, account_id: int) -> list[str]:
    return state.cache.get_or_set(
        ("types", account_id), TYPES_TTL_S, lambda: list_activity_types(session, account_id)
    )


def dashboard(state: WebState, session: Session, account: Account) -> dict[str, Any]:
    by_state = counts(state, session, account.id)
    schedule = _schedule(session, account.id)
    job = state.runner.status() if state.runner is not None else None
    return {
        "account": account_dict(account),
        "counts": by_state,
        "counters": counters(by_state),
        "current_run": current_run(session, account.id),
        "job": job,
        "schedule": schedule,
        "next_run": schedule["next_runs"][0] if schedule["next_runs"] else None,
        "recent_runs": recent_runs(session, account.id, 8),
        "mode": mode(state),
        "redis_ok": redis_ok(state),
        "generated_at": datetime.now(UTC).isoformat(),
    }


def chart(state: WebState, session: Session, account: Account) -> dict[str, Any]:
    by_state = counts(state, session, account.id)
    # Recomputed when the counts move (a sync in progress), else kept a minute.
    key = ("months", account.id, tuple(sorted(by_state.items())))
    months = state.cache.get_or_set(key, CHART_TTL_S, lambda: month_counts(session, account.id))
    return {"states": by_state, "months": months}


def schedule(state: WebState, session: Session, account: Account) -> dict[str, Any]:
    """The sync schedule, its presets, and the reconcile that runs with it."""
    reconcile = reconcile_view(session, account.id, state.settings.reconcile_cron)
    return {**_schedule(session, account.id), "presets": PRESETS, "reconcile": reconcile.as_dict()}


def _schedule(session: Session, account_id: int) -> dict[str, Any]:
    return ScheduleView.of(get_schedule(session, account_id), account_id).as_dict()


def account_page(state: WebState, session: Session, account: Account) -> dict[str, Any]:
    """The account page's extras: when the tokens need a new login, where notifications go."""
    settings = state.settings
    return {
        "token_expiry": expiry(account.refresh_expires_at, settings.token_warn_days),
        "notifications": history.overview(session, settings, state.runtime.cipher, account.id),
    }


def workers(state: WebState) -> dict[str, Any]:
    health = broker_health(state)
    return {**health.as_dict(), "flower_url": state.flower_url}


def system(state: WebState, session: Session, account: Account) -> dict[str, Any]:
    settings = state.settings
    try:
        cooldown: float | None = state.runtime.limiter.cooldown_remaining(f"account-{account.id}")
    except Exception:  # Redis down: the page still answers
        cooldown = None
    health = broker_health(state)
    return {
        "version": _version(),
        "python": platform.python_version(),
        "mode": mode(state),
        "database": {
            "url": mask_url(settings.database_url),
            "dialect": session.get_bind().dialect.name,
            "size_bytes": database_size(session),
            "rows": table_counts(session),
        },
        "data_dir": {
            "path": str(settings.data_dir),
            "archive_bytes": archive_bytes(session, account.id),
            "disk": disk_usage(settings.data_dir),
        },
        "redis": {"configured": not settings.embedded, "ok": health.redis_ok, "error": health.error},
        "workers": [worker.as_dict() for worker in health.workers],
        "queues": health.queues,
        "rate_limit": {
            "limit": str(settings.rate),
            "cooldown_s": cooldown,
            "max_attempts": settings.max_attempts,
        },
        "job": state.runner.status() if state.runner is not None else None,
        "last_errors": last_errors(session, account.id),
        "auth": {"password_set": state.auth_required},
        "flower_url": state.flower_url,
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("garminsync")
    except PackageNotFoundError:
        return "dev"

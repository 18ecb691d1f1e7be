"""Recording what happened, where it happens: one `notifications` row per event, in the
caller's transaction, so a run that closes once is told once.

Only facts go in (counts, a few names and dates, a reason line), never a URL
or a token. Whether and where it is sent is decided at delivery
(`shared.notify.delivery`): the settings say which events are on and which
URLs exist. The repeats a user does not want are decided here: a login
needed once per change of state, a failure that repeats the previous run's
kind not again, a token warning at most once a day.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Activity, DownloadState, Notification, SyncRun
from shared.notify.kinds import Event
from shared.outcomes import Kind

DIGEST_ITEMS = 5  # a digest lists this many activities, then "and N more"
TOKEN_WARNING_EVERY = timedelta(hours=20)  # once a day, with slack for a daily schedule's drift
# Failures a person caused or that another notice covers: Ctrl-C; a login needed (its own notice).
_QUIET_FAILURES = frozenset({Kind.INTERRUPTED.value, Kind.AUTH.value})


def record(
    session: Session,
    event: Event,
    account_id: int | None,
    *,
    run_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Notification:
    row = Notification(
        event=event.value,
        account_id=account_id,
        run_id=run_id,
        detail=json.dumps(detail or {}, default=str),
        status="pending",
        attempts=0,
    )
    session.add(row)
    session.flush()
    return row


def run_closed(session: Session, run: SyncRun) -> None:
    """A run just ended: its digest, or its failure (unless it repeats the last one)."""
    counts = {
        "found": run.found,
        "new": run.new,
        "downloaded": run.downloaded,
        "failed": run.failed,
        "no_file": run.no_file,
        "status": run.status,
        "trigger": run.trigger,
    }
    if run.status == "error":
        if run.error_kind in _QUIET_FAILURES or _repeats_last_failure(session, run):
            return
        detail = {**counts, "kind": run.error_kind, "message": (run.message or "")[:300]}
        record(session, Event.RUN_FAILED, run.account_id, run_id=run.id, detail=detail)
    elif run.downloaded:
        record(
            session,
            Event.NEW_ACTIVITIES,
            run.account_id,
            run_id=run.id,
            detail={**counts, "items": _digest_items(session, run.id)},
        )
    elif run.failed:
        detail = {**counts, "kind": None, "message": f"{run.failed} download(s) failed"}
        record(session, Event.RUN_FAILED, run.account_id, run_id=run.id, detail=detail)


def _repeats_last_failure(session: Session, run: SyncRun) -> bool:
    previous = session.scalars(
        select(SyncRun)
        .where(SyncRun.account_id == run.account_id, SyncRun.id < run.id, SyncRun.status != "running")
        .order_by(SyncRun.id.desc())
        .limit(1)
    ).first()
    return previous is not None and previous.status == "error" and previous.error_kind == run.error_kind


def _digest_items(session: Session, run_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Activity.name,
            Activity.activity_type,
            Activity.start_time,
            Activity.start_time_local,
            Activity.distance_m,
            Activity.duration_s,
        )
        .where(Activity.run_id == run_id, Activity.state == DownloadState.DOWNLOADED)
        .order_by(Activity.start_time.desc())
        .limit(DIGEST_ITEMS)
    ).all()
    return [
        {
            "name": row.name,
            "type": row.activity_type,
            "start": (row.start_time_local or row.start_time).isoformat(timespec="minutes"),
            "distance_m": row.distance_m,
            "duration_s": row.duration_s,
        }
        for row in rows
    ]


def login_needed(session: Session, account_id: int, reason: str) -> None:
    """Called once per change of state: the caller saw the account go to `needs_login`."""
    record(session, Event.LOGIN_NEEDED, account_id, detail={"reason": reason[:300]})


def cooldown_started(session: Session, account_id: int, seconds: float) -> None:
    record(session, Event.COOLDOWN, account_id, detail={"seconds": round(seconds)})


def verify_damage(session: Session, account_id: int, problems: list[dict[str, Any]], total: int) -> None:
    detail = {"problems": total, "items": problems[:DIGEST_ITEMS]}
    record(session, Event.VERIFY_DAMAGE, account_id, detail=detail)


def token_expiring(session: Session, account_id: int, expires_at: datetime, now: datetime) -> bool:
    """Warn, unless a warning went out (or waits to) within the last day; True if recorded."""
    recent = session.scalar(
        select(Notification.id)
        .where(
            Notification.account_id == account_id,
            Notification.event == Event.TOKEN_EXPIRING.value,
            Notification.created_at >= now - TOKEN_WARNING_EVERY,
        )
        .limit(1)
    )
    if recent is not None:
        return False
    record(session, Event.TOKEN_EXPIRING, account_id, detail={"expires_at": expires_at.astimezone(UTC)})
    return True

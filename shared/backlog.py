"""The download backlog in the database: what waits, what is published, what comes back.

A `queued` activity with no `dispatched_at` waits for the dispatcher
(`shared.pacing`); publishing sets `dispatched_at`; every way back (a lost
task, a dead worker, an account that needs a login) goes through here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from shared.models import Account, Activity, DownloadState, TokenState

DISPATCH_LEASE_S = 1800  # a published task not started by then was lost: publish it again


def _waiting(now: datetime) -> list[object]:
    return [
        Activity.state == DownloadState.QUEUED,
        Activity.dispatched_at.is_(None),
        or_(Activity.not_before.is_(None), Activity.not_before <= now),
    ]


def backlog_counts(session: Session, now: datetime) -> dict[int, int]:
    """Per account: activities waiting for their task to be published (and due)."""
    rows = session.execute(
        select(Activity.account_id, func.count())
        .join(Account, Account.id == Activity.account_id)
        .where(*_waiting(now), Account.token_state != TokenState.NEEDS_LOGIN)  # type: ignore[arg-type]
        .group_by(Activity.account_id)
    ).all()
    return {int(account_id): int(count) for account_id, count in rows}


# The requests each of these activities' downloads will make (`shared.extras.request_costs`).
Costs = Callable[[Session, list[int]], dict[int, int]]

_IN_FLIGHT = or_(
    and_(Activity.state == DownloadState.QUEUED, Activity.dispatched_at.is_not(None)),
    and_(Activity.state == DownloadState.DOWNLOADING, Activity.dispatched_at.is_not(None)),
)


def in_flight_counts(session: Session, cost: Costs | None = None) -> dict[int, int]:
    """Per account: published tasks not finished yet; with `cost`, the requests they will make.

    A started task may still be waiting for its slot (it was published for a
    slot about to free), so it counts until it ends: counting one that holds
    its slot already only delays the next publication by a tick.
    """
    if cost is None:
        rows = session.execute(
            select(Activity.account_id, func.count()).where(_IN_FLIGHT).group_by(Activity.account_id)
        ).all()
        return {int(account_id): int(count) for account_id, count in rows}
    owners = dict(session.execute(select(Activity.id, Activity.account_id).where(_IN_FLIGHT)).tuples().all())
    totals: dict[int, int] = {}
    for activity_id, requests in cost(session, list(owners)).items():
        totals[owners[activity_id]] = totals.get(owners[activity_id], 0) + requests
    return totals


def take_due(
    session: Session, account_id: int, count: int, now: datetime, cost: Costs | None = None
) -> list[int]:
    """Mark up to `count` of an account's waiting activities published; asked-for ones first, then
    newest. With `cost`, `count` is in requests: as many as their downloads fit in it."""
    ids = list(
        session.scalars(
            select(Activity.id)
            .where(Activity.account_id == account_id, *_waiting(now))  # type: ignore[arg-type]
            .order_by(case((Activity.run_id.is_(None), 0), else_=1), Activity.start_time.desc())
            .limit(count)
        )
    )
    if cost is not None and ids:
        costs, fitting, spent = cost(session, ids), [], 0
        for activity_id in ids:
            spent += costs[activity_id]
            if spent > count:
                break
            fitting.append(activity_id)
        ids = fitting
    if not ids:
        return []
    result = session.execute(
        update(Activity)
        .where(Activity.id.in_(ids), Activity.state == DownloadState.QUEUED, Activity.dispatched_at.is_(None))
        .values(dispatched_at=now)
        .returning(Activity.id)
    )
    taken = set(result.scalars())
    return [activity_id for activity_id in ids if activity_id in taken]


def unpublish(session: Session, activity_ids: list[int]) -> None:
    """Publishing failed: the activities wait again."""
    session.execute(
        update(Activity)
        .where(Activity.id.in_(activity_ids), Activity.state == DownloadState.QUEUED)
        .values(dispatched_at=None)
    )


def requeue_published(session: Session) -> int:
    """Every published-but-unstarted task is gone (Redis was emptied): publish them again."""
    result = session.execute(
        update(Activity)
        .where(Activity.state == DownloadState.QUEUED, Activity.dispatched_at.is_not(None))
        .values(dispatched_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def expire_leases(session: Session, now: datetime, downloading_lease_s: float) -> int:
    """Claims whose task was lost: published long ago and never started, or started and never ended."""
    published_before = now - timedelta(seconds=DISPATCH_LEASE_S)
    started_before = now - timedelta(seconds=downloading_lease_s)
    result = session.execute(
        update(Activity)
        .where(
            or_(
                and_(Activity.state == DownloadState.QUEUED, Activity.dispatched_at < published_before),
                and_(Activity.state == DownloadState.DOWNLOADING, Activity.dispatched_at < started_before),
            )
        )
        .values(state=DownloadState.QUEUED, dispatched_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def hand_back(session: Session, activity_ids: list[int]) -> int:
    """Claims of tasks that died with their worker go back to the backlog."""
    if not activity_ids:
        return 0
    result = session.execute(
        update(Activity)
        .where(
            Activity.id.in_(activity_ids),
            Activity.state.in_([DownloadState.QUEUED, DownloadState.DOWNLOADING]),
        )
        .values(state=DownloadState.QUEUED, dispatched_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def release_account(session: Session, account_id: int) -> int:
    """An account that needs a login gives its whole backlog back to the next sync."""
    result = session.execute(
        update(Activity)
        .where(
            Activity.account_id == account_id,
            Activity.state.in_([DownloadState.QUEUED, DownloadState.DOWNLOADING]),
        )
        .values(state=DownloadState.MISSING, queued_at=None, run_id=None, dispatched_at=None, not_before=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def busy(session: Session) -> bool:
    """Some download, of any account, is claimed and not settled."""
    claimed = select(Activity.id).where(Activity.state.in_([DownloadState.QUEUED, DownloadState.DOWNLOADING]))
    return session.scalar(claimed.limit(1)) is not None


def account_backlog(session: Session, account_id: int) -> dict[str, int]:
    """What of an account's claims waits for the budget, and what is published to the workers."""
    rows = session.execute(
        select(Activity.dispatched_at.is_not(None), func.count())
        .where(Activity.account_id == account_id, Activity.state == DownloadState.QUEUED)
        .group_by(Activity.dispatched_at.is_not(None))
    ).all()
    counts = {bool(published): int(n) for published, n in rows}
    return {"waiting": counts.get(False, 0), "published": counts.get(True, 0)}

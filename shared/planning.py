"""Which activities to download, and claiming them so none is queued twice.

Claiming is one conditional UPDATE per chunk (`missing` -> `queued`): two
syncs racing each claim disjoint sets. Work left `queued` or `downloading`
longer than `requeue_after` (a lost message, a flushed Redis, a killed
embedded run) counts as missing again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from shared.errors import UsageError
from shared.extras import Wants
from shared.models import Activity, ActivityFile, DownloadState

CHUNK = 500  # ids per statement: far below every driver's limit on bound parameters


def date_range(column: Any, since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    """`column` (a UTC timestamp) from the start of `since` to the end of `until`, both inclusive."""
    clauses: list[ColumnElement[bool]] = []
    if since:
        clauses.append(column >= datetime.combine(since, time.min, UTC))
    if until:
        clauses.append(column < datetime.combine(until + timedelta(days=1), time.min, UTC))
    return clauses


@dataclass(frozen=True)
class Filters:
    """`--since/--until/--type`, the dashboard's filters and a sync's filters alike."""

    since: date | None = None
    until: date | None = None
    activity_type: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        clauses = date_range(Activity.start_time, self.since, self.until)
        if self.activity_type:
            clauses.append(Activity.activity_type == self.activity_type)
        return clauses


def missing_clause(requeue_after_s: int, now: datetime | None = None) -> ColumnElement[bool]:
    """Missing, or claimed so long ago that the claim must have been lost."""
    stale = (now or datetime.now(UTC)) - timedelta(seconds=requeue_after_s)
    return or_(
        Activity.state == DownloadState.MISSING,
        and_(
            Activity.state.in_([DownloadState.QUEUED, DownloadState.DOWNLOADING]),
            or_(Activity.queued_at.is_(None), Activity.queued_at < stale),
        ),
    )


def claimable_clause(requeue_after_s: int, now: datetime, wants: Wants | None) -> ColumnElement[bool]:
    """Missing (`missing_clause`), or archived but lacking a wanted format or its details."""
    lacking = wants.lacking_clause() if wants else None
    missing = missing_clause(requeue_after_s, now)
    if lacking is None:
        return missing
    return or_(missing, and_(Activity.state == DownloadState.DOWNLOADED, lacking))


def claim_missing(
    session: Session,
    account_id: int,
    filters: Filters,
    requeue_after_s: int,
    limit: int | None = None,
    run_id: int | None = None,
    wants: Wants | None = None,
) -> list[int]:
    """Mark missing activities `queued` for `run_id` and return their ids, newest first.

    With `wants`, archived activities that lack one of its formats (or the
    details) are claimed too; their download fetches only what they lack.
    A stale claim is adopted by the new run as it stands: one whose task is
    still in Redis (`dispatched_at`) is not published twice.
    """
    now = datetime.now(UTC)
    claimable = claimable_clause(requeue_after_s, now, wants)
    query = (
        select(Activity.id)
        .where(Activity.account_id == account_id, Activity.deleted_upstream.is_(False))
        .where(claimable, *filters.clauses())
        .order_by(Activity.start_time.desc())
    )
    if limit:
        query = query.limit(limit)
    candidates = list(session.scalars(query))
    claimed: list[int] = []
    for start in range(0, len(candidates), CHUNK):
        chunk = candidates[start : start + CHUNK]
        result = session.execute(
            update(Activity)
            .where(Activity.id.in_(chunk))
            .where(claimable)
            .values(state=DownloadState.QUEUED, queued_at=now, run_id=run_id, not_before=None)
            .returning(Activity.id)
        )
        claimed.extend(result.scalars())
    order = {activity_id: i for i, activity_id in enumerate(candidates)}
    return sorted(claimed, key=order.__getitem__)


def release(session: Session, activity_ids: list[int]) -> None:
    """Give unstarted claims back (an interrupted embedded run, a failed enqueue)."""
    for start in range(0, len(activity_ids), CHUNK):
        session.execute(
            update(Activity)
            .where(Activity.id.in_(activity_ids[start : start + CHUNK]))
            .where(Activity.state.in_([DownloadState.QUEUED, DownloadState.DOWNLOADING]))
            .values(
                state=DownloadState.MISSING, queued_at=None, run_id=None, dispatched_at=None, not_before=None
            )
        )


def claim_ids(session: Session, account_id: int, activity_ids: list[int]) -> list[int]:
    """Claim specific activities (retry, re-download): any state but in-flight."""
    known: set[int] = set()
    for start in range(0, len(activity_ids), CHUNK):
        chunk = activity_ids[start : start + CHUNK]
        known.update(
            session.scalars(
                select(Activity.id).where(Activity.account_id == account_id, Activity.id.in_(chunk))
            )
        )
    unknown = [str(i) for i in activity_ids if i not in known]
    if unknown:
        raise UsageError(f"unknown activity id(s): {', '.join(unknown)}")
    now = datetime.now(UTC)
    claimed: list[int] = []
    for start in range(0, len(activity_ids), CHUNK):
        # Asked for by a person: formats that gave up are tried again too.
        session.execute(
            update(ActivityFile)
            .where(ActivityFile.activity_id.in_(activity_ids[start : start + CHUNK]))
            .values(attempts=0)
        )
        result = session.execute(
            update(Activity)
            .where(Activity.id.in_(activity_ids[start : start + CHUNK]))
            .where(Activity.state.not_in([DownloadState.QUEUED, DownloadState.DOWNLOADING]))
            .values(
                state=DownloadState.QUEUED,
                queued_at=now,
                attempts=0,
                run_id=None,
                dispatched_at=None,
                not_before=None,
            )
            .returning(Activity.id)
        )
        claimed.extend(result.scalars())
    return claimed

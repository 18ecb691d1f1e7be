"""The dashboard's chart: activities per month, counted in the groups of `shared.states`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Activity
from shared.reports import as_utc
from shared.states import GROUP_OF, GROUPS

CHART_TTL_S = 60.0
CHART_MONTHS = 24


def _month_key(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", Activity.start_time), "YYYY-MM")
    return func.strftime("%Y-%m", Activity.start_time)


def _month_start(year: int, month: int) -> date:
    """The first of a month given as year and a month number that may be out of 1..12."""
    index = year * 12 + month - 1
    return date(index // 12, index % 12 + 1, 1)


def month_counts(session: Session, account_id: int, months: int = CHART_MONTHS) -> list[dict[str, Any]]:
    """Activities per month and group, for the last `months` months with data."""
    latest = as_utc(
        session.scalar(select(func.max(Activity.start_time)).where(Activity.account_id == account_id))
    )
    if latest is None:
        return []
    first = _month_start(latest.year, latest.month - months + 1)
    key = _month_key(session).label("month")
    query = (
        select(key, Activity.state, func.count())
        .where(Activity.account_id == account_id)
        .where(Activity.start_time >= datetime.combine(first, time.min, UTC))
        .group_by(key, Activity.state)
    )
    buckets: dict[str, dict[str, Any]] = {}
    for index in range(months):
        start = _month_start(first.year, first.month + index)
        label = f"{start.year:04d}-{start.month:02d}"
        buckets[label] = {"month": label, **dict.fromkeys(GROUPS, 0)}
    for month, state, count in session.execute(query).tuples():
        bucket = buckets.get(str(month))
        if bucket is not None and state in GROUP_OF:
            bucket[GROUP_OF[state]] += int(count)
    return list(buckets.values())

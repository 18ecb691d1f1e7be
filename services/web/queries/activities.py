"""The activities list (filtered, sorted, paged, deep pages exact and fast), one activity, its ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from shared.extras import archived_formats
from shared.models import Activity
from shared.reports import activity_dict, archived_originals, state_counts

from ..cache import TTLCache
from ..errors import Missing
from ..forms import ActivityFilters, Paging
from .paging import Page, paged

COUNTS_TTL_S = 3.0
SELECTIVE_SHARE = 0.2
# Deep pages of the plain list read through the start-time index (`_seek`) from this offset on.
SEEK_MIN_OFFSET = 1000

LIST_COLUMNS = (
    Activity.id,
    Activity.name,
    Activity.activity_type,
    Activity.start_time,
    Activity.start_time_local,
    Activity.duration_s,
    Activity.distance_m,
    Activity.state,
    Activity.attempts,
    Activity.file_size,
    Activity.deleted_upstream,
    Activity.file_format,
)
LIST_KEYS = (
    "id",
    "name",
    "type",
    "start_time",
    "start_time_local",
    "duration_s",
    "distance_m",
    "state",
    "attempts",
    "file_size",
    "deleted_upstream",
)
SORT_COLUMNS: dict[str, Any] = {
    "start": Activity.start_time,
    "name": Activity.name,
    "type": Activity.activity_type,
    "state": Activity.state,
    "distance": Activity.distance_m,
    "duration": Activity.duration_s,
    "attempts": Activity.attempts,
}


def activity_clauses(account_id: int, filters: ActivityFilters) -> list[ColumnElement[bool]]:
    """The account, then the filters: dates and type (`shared.planning.Filters`), state and search."""
    return [Activity.account_id == account_id, *filters.clauses()]


def _order(session: Session, filters: ActivityFilters, selective: bool) -> list[Any]:
    column = SORT_COLUMNS[filters.sort]
    primary = column.asc() if filters.order == "asc" else column.desc()
    if filters.sort == "start":
        if session.get_bind().dialect.name != "sqlite":
            return [primary, Activity.id.asc() if filters.order == "asc" else Activity.id.desc()]
        # SQLite breaks ties by rowid along the index; a tie-breaker would force a
        # sort of every row before a deep OFFSET. When the state filter keeps few
        # rows, an expression (not the column) steers its planner to the
        # (account_id, state) index and a small sort instead of walking the
        # start-time index past every other row.
        if selective:
            steered = func.coalesce(Activity.start_time, Activity.start_time)
            return [steered.asc() if filters.order == "asc" else steered.desc()]
        return [primary]
    return [primary, Activity.start_time.desc()]


def cached_state_counts(session: Session, account_id: int, cache: TTLCache | None) -> dict[str, int]:
    if cache is None:
        return state_counts(session, account_id)
    return cache.get_or_set(("counts", account_id), COUNTS_TTL_S, lambda: state_counts(session, account_id))


def _selective(session: Session, account_id: int, filters: ActivityFilters, cache: TTLCache | None) -> bool:
    states = filters.states()
    if states is None or filters.sort != "start":
        return False
    counts = cached_state_counts(session, account_id, cache)
    total = sum(counts.values())
    return total > 0 and sum(counts.get(state, 0) for state in states) < SELECTIVE_SHARE * total


def list_activities(
    session: Session,
    account_id: int,
    filters: ActivityFilters,
    paging: Paging,
    cache: TTLCache | None = None,
) -> Page:
    """A page of the list. Deep pages seek along the index, except on SQLite, which skips
    OFFSET rows along the index without reading the table anyway."""
    deep = paging.offset >= SEEK_MIN_OFFSET and session.get_bind().dialect.name != "sqlite"
    return activity_page(session, account_id, filters, paging, cache, seek=deep)


def activity_page(
    session: Session,
    account_id: int,
    filters: ActivityFilters,
    paging: Paging,
    cache: TTLCache | None = None,
    *,
    seek: bool = False,
) -> Page:
    """A page read with LIMIT/OFFSET, or with `seek` (the same rows) where the filters allow it."""
    clauses = activity_clauses(account_id, filters)
    order = _order(session, filters, _selective(session, account_id, filters, cache))
    query = select(*LIST_COLUMNS).where(*clauses).order_by(*order)
    count_query = select(func.count()).select_from(Activity).where(*clauses)
    key = (
        "activities",
        account_id,
        filters.since,
        filters.until,
        filters.activity_type,
        filters.state,
        filters.q,
    )
    fetch = _seek(session, clauses, filters.order == "desc", order) if seek and _seekable(filters) else None
    originals: dict[int, str | None] = {}

    def to_dict(row: Any) -> dict[str, Any]:
        originals.update(archived_originals([row]))
        return activity_dict(row, LIST_KEYS)

    page = paged(session, query, count_query, paging, to_dict, cache, key, fetch)
    formats = archived_formats(session, originals)
    for item in page.items:
        item["formats"] = formats[item["id"]]
    return page


def _seekable(filters: ActivityFilters) -> bool:
    """Only the plain list (account and dates, by start time) walks the start-time index."""
    return filters.sort == "start" and not (filters.activity_type or filters.state or filters.q)


def _seek(
    session: Session, clauses: list[ColumnElement[bool]], descending: bool, order: list[Any]
) -> Callable[[Paging], Any]:
    """Deep pages without OFFSET over the table (Postgres would fetch each skipped row from
    the heap): find the page's first start time on the (account_id, start_time) index alone,
    walking from whichever end is nearer, count the rows before it there too, and read only
    the page from the table. Exact, even when start times tie."""
    column = Activity.start_time

    def rows(paging: Paging) -> Any:
        def count(*where: ColumnElement[bool]) -> int:
            return int(
                session.scalar(select(func.count()).select_from(Activity).where(*clauses, *where)) or 0
            )

        total = count()
        if paging.offset >= total:
            return []
        if paging.offset <= total // 2:
            # Walk from the top to the page's first row; count the rows above it.
            walk = column.desc() if descending else column.asc()
            boundary = session.scalar(
                select(column).where(*clauses).order_by(walk).offset(paging.offset).limit(1)
            )
            before = count(column > boundary if descending else column < boundary) if boundary else 0
        else:
            # Nearer the end: walk from the bottom instead, and count what lies below.
            walk = column.asc() if descending else column.desc()
            from_end = total - 1 - paging.offset
            boundary = session.scalar(select(column).where(*clauses).order_by(walk).offset(from_end).limit(1))
            before = (
                total - count(column <= boundary if descending else column >= boundary) if boundary else 0
            )
        if boundary is None:  # rows vanished between the two reads
            return []
        within = column <= boundary if descending else column >= boundary
        query = select(*LIST_COLUMNS).where(*clauses, within).order_by(*order)
        return session.execute(query.offset(max(0, paging.offset - before)).limit(paging.per_page))

    return rows


def filtered_ids(
    session: Session, account_id: int, filters: ActivityFilters, states: tuple[str, ...]
) -> list[int]:
    """Ids of the filtered set in the given states, newest first (bulk actions)."""
    query = (
        select(Activity.id)
        .where(*activity_clauses(account_id, filters), Activity.state.in_(states))
        .where(Activity.deleted_upstream.is_(False))
        .order_by(Activity.start_time.desc())
    )
    return list(session.scalars(query))


def get_activity(session: Session, account_id: int, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or activity.account_id != account_id:
        raise Missing(f"no activity {activity_id} in this account")
    return activity


# Garmin's list entry, kept as JSON: what the detail page shows of it (key, label, unit).
SUMMARY_KEYS = (
    ("calories", "Calories", ""),
    ("averageHR", "Average heart rate", "bpm"),
    ("maxHR", "Max heart rate", "bpm"),
    ("elevationGain", "Elevation gain", "m"),
    ("elevationLoss", "Elevation loss", "m"),
    ("averageSpeed", "Average speed", "m/s"),
    ("maxSpeed", "Max speed", "m/s"),
    ("steps", "Steps", ""),
    ("locationName", "Location", ""),
    ("deviceId", "Device", ""),
)


def readable_summary(summary_json: str | None) -> list[tuple[str, str]]:
    """A few labelled values from Garmin's stored list entry, when present."""
    if not summary_json:
        return []
    try:
        data = json.loads(summary_json)
    except (TypeError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    out = []
    for key, label, unit in SUMMARY_KEYS:
        value = data.get(key)
        if isinstance(value, int | float | str) and not isinstance(value, bool) and value != "":
            shown = f"{value:.1f}" if isinstance(value, float) else str(value)
            out.append((label, f"{shown} {unit}".strip()))
    return out


def activity_detail(session: Session, activity: Activity) -> dict[str, Any]:
    """`shared.reports.activity_dict` plus Garmin's summary values and the archived formats,
    for the detail page."""
    formats = archived_formats(session, archived_originals([activity]))[activity.id]
    return {
        **activity_dict(activity),
        "summary": dict(readable_summary(activity.summary_json)),
        "formats": formats,
    }


def list_activity_types(session: Session, account_id: int) -> list[str]:
    query = (
        select(Activity.activity_type)
        .where(Activity.account_id == account_id, Activity.activity_type.is_not(None))
        .distinct()
        .order_by(Activity.activity_type)
    )
    return [value for value in session.scalars(query) if value]

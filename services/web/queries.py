"""Every read the dashboard makes, in one place: plain SQLAlchemy over a Session.

Pages and the JSON API call these and nothing else, so a query is tuned once.
At 100,000 activities the lists stay fast because they filter on the account
first (the `(account_id, state)` and `(account_id, start_time)` indexes) and
page with LIMIT/OFFSET along the start-time index; the costly parts (the
total behind the pager, the monthly chart) are cached for a few seconds.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, text
from sqlalchemy.orm import Session

from shared.garmin_values import finite
from shared.models import Account, Activity, DownloadState, Schedule, SyncRun, TaskRun
from shared.reports import activity_dict, as_utc, iso, run_dict, state_counts
from shared.schedules import get_schedule, view

from .cache import TTLCache
from .errors import Missing
from .forms import ActivityFilters, Paging, RunFilters, TaskFilters

COUNT_TTL_S = 10.0
COUNTS_TTL_S = 3.0
CHART_TTL_S = 60.0
CHART_MONTHS = 24
ACTIVE_TASK_STATES = ("queued", "started", "retried")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def window(self, width: int = 2) -> list[int | None]:
        """Page numbers for a pager: first, last and a few around the current (None = gap)."""
        wanted = {1, self.pages, *range(self.page - width, self.page + width + 1)}
        numbers = sorted(n for n in wanted if 1 <= n <= self.pages)
        out: list[int | None] = []
        for number in numbers:
            if out and number - (out[-1] or 0) > 1:
                out.append(None)
            out.append(number)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": self.pages,
        }


def _paged(
    session: Session,
    query: Select[Any],
    count_query: Select[Any],
    paging: Paging,
    to_dict: Callable[[Any], dict[str, Any]],
    cache: TTLCache | None,
    cache_key: tuple[Any, ...],
    fetch: Callable[[Paging], Any] | None = None,
) -> Page:
    """One page and the (cached) total; `fetch` replaces the plain LIMIT/OFFSET read."""

    def count() -> int:
        return int(session.scalar(count_query) or 0)

    total = cache.get_or_set(cache_key, COUNT_TTL_S, count) if cache else count()
    page = Page([], paging.page, paging.per_page, total)
    if paging.page > page.pages:
        raise Missing(f"page {paging.page} does not exist: there are {page.pages} page(s)")
    if fetch is not None:
        rows = fetch(paging)
    else:
        rows = session.execute(query.limit(paging.per_page).offset(paging.offset))
    return Page([to_dict(row) for row in rows], paging.page, paging.per_page, total)


# --- accounts ----------------------------------------------------------------------


def accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


def account_by_name(session: Session, name: str) -> Account | None:
    return session.scalars(select(Account).where(Account.name == name)).first()


# --- activities ----------------------------------------------------------------------

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
    clauses: list[ColumnElement[bool]] = [Activity.account_id == account_id]
    if filters.since:
        clauses.append(Activity.start_time >= datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        clauses.append(
            Activity.start_time < datetime.combine(filters.until + timedelta(days=1), time.min, UTC)
        )
    if filters.activity_type:
        clauses.append(Activity.activity_type == filters.activity_type)
    states = filters.states()
    if states is not None:
        clauses.append(Activity.state == states[0] if len(states) == 1 else Activity.state.in_(states))
    if filters.q:
        by_name = Activity.name.icontains(filters.q, autoescape=True)
        is_id = filters.q.isdigit() and len(filters.q) <= 18
        clauses.append(or_(Activity.id == int(filters.q), by_name) if is_id else by_name)
    return clauses


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


SELECTIVE_SHARE = 0.2


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


def activity_row(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "type": row.activity_type,
        "start_time": iso(row.start_time),
        "start_time_local": row.start_time_local.isoformat() if row.start_time_local else None,
        "duration_s": finite(row.duration_s),
        "distance_m": finite(row.distance_m),
        "state": row.state,
        "attempts": row.attempts,
        "file_size": row.file_size,
        "deleted_upstream": row.deleted_upstream,
    }


def list_activities(
    session: Session,
    account_id: int,
    filters: ActivityFilters,
    paging: Paging,
    cache: TTLCache | None = None,
) -> Page:
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
    fetch = None
    if paging.offset >= SEEK_MIN_OFFSET and _seekable(session, filters):
        fetch = _seek(session, clauses, filters.order == "desc", order)
    return _paged(session, query, count_query, paging, activity_row, cache, key, fetch)


# Deep pages of the plain list (only account and dates filtered, newest or oldest
# first): OFFSET would read every skipped row from the table (Postgres fetches
# each from the heap). Instead, find the page's first start time on the
# (account_id, start_time) index alone, walking from whichever end is nearer,
# count the rows before it there too, and read only the page from the table.
# Exact, even when start times tie.
SEEK_MIN_OFFSET = 1000
SEEK_ON_SQLITE = False  # tests turn it on to check the read is exact there too


def _seekable(session: Session, filters: ActivityFilters) -> bool:
    """SQLite skips OFFSET rows along the index without reading the table: no need there."""
    if session.get_bind().dialect.name == "sqlite" and not SEEK_ON_SQLITE:
        return False
    return filters.sort == "start" and not (filters.activity_type or filters.state or filters.q)


def _seek(
    session: Session, clauses: list[ColumnElement[bool]], descending: bool, order: list[Any]
) -> Callable[[Paging], Any]:
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


def summary_fields(summary_json: str | None) -> list[tuple[str, str]]:
    """A few readable fields from Garmin's list entry, when present."""
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


def activity_detail(activity: Activity) -> dict[str, Any]:
    """`shared.reports.activity_dict` plus Garmin's summary fields, for the detail page."""
    return {**activity_dict(activity), "summary": dict(summary_fields(activity.summary_json))}


def activity_types(session: Session, account_id: int) -> list[str]:
    query = (
        select(Activity.activity_type)
        .where(Activity.account_id == account_id, Activity.activity_type.is_not(None))
        .distinct()
        .order_by(Activity.activity_type)
    )
    return [value for value in session.scalars(query) if value]


# --- dashboard ---------------------------------------------------------------------


def counters(counts: dict[str, int]) -> dict[str, int]:
    """The dashboard's four numbers: archived, missing (file expected), failed, no file."""
    return {
        "archived": counts.get(DownloadState.DOWNLOADED, 0),
        "missing": sum(counts.get(state, 0) for state in ("missing", "queued", "downloading")),
        "failed": counts.get(DownloadState.FAILED, 0),
        "no_file": counts.get(DownloadState.NO_FILE, 0),
        "total": sum(counts.values()),
    }


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
    """Activities per month and status group, for the last `months` months with data."""
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
        buckets[label] = {"month": label, "archived": 0, "missing": 0, "failed": 0, "no_file": 0}
    group = {
        "downloaded": "archived",
        "missing": "missing",
        "queued": "missing",
        "downloading": "missing",
        "failed": "failed",
        "no_file": "no_file",
    }
    for month, state, count in session.execute(query).tuples():
        bucket = buckets.get(str(month))
        if bucket is not None and state in group:
            bucket[group[state]] += int(count)
    return list(buckets.values())


def run_row(run: SyncRun) -> dict[str, Any]:
    """`shared.reports.run_dict` plus what the pages show: duration and progress."""
    settled = run.downloaded + run.failed + run.no_file
    started, finished = as_utc(run.started_at), as_utc(run.finished_at)
    return {
        **run_dict(run),
        "duration_s": (finished - started).total_seconds() if started and finished else None,
        "settled": settled,
        "percent": round(100 * settled / run.queued)
        if run.queued
        else (100 if run.status != "running" else 0),
    }


def recent_runs(session: Session, account_id: int, limit: int = 8) -> list[dict[str, Any]]:
    query = select(SyncRun).where(SyncRun.account_id == account_id).order_by(SyncRun.id.desc()).limit(limit)
    return [run_row(run) for run in session.scalars(query)]


def current_run(session: Session, account_id: int) -> dict[str, Any] | None:
    query = (
        select(SyncRun)
        .where(SyncRun.account_id == account_id, SyncRun.status == "running")
        .order_by(SyncRun.id.desc())
        .limit(1)
    )
    run = session.scalars(query).first()
    return run_row(run) if run else None


def schedule_dict(session: Session, account_id: int) -> dict[str, Any]:
    return view(get_schedule(session, account_id), account_id).as_dict()


# --- runs ----------------------------------------------------------------------------


def run_clauses(account_id: int, filters: RunFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [SyncRun.account_id == account_id]
    if filters.status:
        clauses.append(SyncRun.status == filters.status)
    if filters.trigger:
        clauses.append(SyncRun.trigger == filters.trigger)
    if filters.since:
        clauses.append(SyncRun.started_at >= datetime.combine(filters.since, time.min, UTC))
    if filters.until:
        clauses.append(
            SyncRun.started_at < datetime.combine(filters.until + timedelta(days=1), time.min, UTC)
        )
    return clauses


def list_runs(
    session: Session, account_id: int, filters: RunFilters, paging: Paging, cache: TTLCache | None = None
) -> Page:
    clauses = run_clauses(account_id, filters)
    query = select(SyncRun).where(*clauses).order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    count_query = select(func.count()).select_from(SyncRun).where(*clauses)
    key = ("runs", account_id, filters.status, filters.trigger, filters.since, filters.until)
    return _paged(session, query, count_query, paging, lambda row: run_row(row[0]), cache, key)


def get_run(session: Session, account_id: int, run_id: int) -> SyncRun:
    run = session.get(SyncRun, run_id)
    if run is None or run.account_id != account_id:
        raise Missing(f"no sync run {run_id} in this account")
    return run


def delete_runs_before(session: Session, account_id: int, before: datetime) -> int:
    """Clear old history; a run still going is never removed."""
    result = session.execute(
        delete(SyncRun).where(
            SyncRun.account_id == account_id, SyncRun.started_at < before, SyncRun.status != "running"
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- tasks ---------------------------------------------------------------------------


def task_row(task: TaskRun) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "name": task.name,
        "short_name": task.name.rsplit(".", 1)[-1],
        "state": task.state,
        "args": task.args,
        "account_id": task.account_id,
        "activity_id": task.activity_id,
        "worker": task.worker,
        "queue": task.queue,
        "retries": task.retries,
        "error": task.error,
        "result": task.result,
        "received_at": iso(task.queued_at),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
        "runtime_s": task.runtime_s,
        "updated_at": iso(task.updated_at),
        "revocable": task.state in ACTIVE_TASK_STATES,
    }


def task_clauses(filters: TaskFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.state:
        clauses.append(TaskRun.state == filters.state)
    if filters.name:
        clauses.append(or_(TaskRun.name == filters.name, TaskRun.name == f"garminsync.{filters.name}"))
    if filters.q:
        needle = filters.q
        clauses.append(
            or_(
                TaskRun.task_id.startswith(needle, autoescape=True),
                TaskRun.args.contains(needle, autoescape=True),
                TaskRun.error.icontains(needle, autoescape=True),
                TaskRun.worker.icontains(needle, autoescape=True),
            )
        )
    return clauses


def list_tasks(session: Session, filters: TaskFilters, paging: Paging, cache: TTLCache | None = None) -> Page:
    clauses = task_clauses(filters)
    query = select(TaskRun).where(*clauses).order_by(TaskRun.updated_at.desc(), TaskRun.id.desc())
    count_query = select(func.count()).select_from(TaskRun).where(*clauses)
    key = ("tasks", filters.state, filters.name, filters.q)
    return _paged(session, query, count_query, paging, lambda row: task_row(row[0]), cache, key)


def get_task(session: Session, task_id: str) -> TaskRun:
    task = session.scalars(select(TaskRun).where(TaskRun.task_id == task_id)).first()
    if task is None:
        raise Missing(f"no task {task_id[:64]!r} in the task history")
    return task


def task_names(session: Session) -> list[str]:
    return [name for name in session.scalars(select(TaskRun.name).distinct().order_by(TaskRun.name)) if name]


def task_state_counts(session: Session) -> dict[str, int]:
    query = select(TaskRun.state, func.count()).group_by(TaskRun.state)
    return {state: int(count) for state, count in session.execute(query).tuples()}


# --- system ----------------------------------------------------------------------------


TABLES: dict[str, Any] = {
    "accounts": Account,
    "activities": Activity,
    "sync_runs": SyncRun,
    "task_runs": TaskRun,
    "schedules": Schedule,
}


def table_counts(session: Session) -> dict[str, int]:
    return {
        name: int(session.scalar(select(func.count()).select_from(model)) or 0)
        for name, model in TABLES.items()
    }


def database_size(session: Session) -> int | None:
    """Bytes on disk: the SQLite file with its WAL, or Postgres' pg_database_size."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        path = bind.engine.url.database
        if not path or path == ":memory:":
            return None
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.path.getsize(path + suffix)
            except OSError:
                continue
        return total
    if bind.dialect.name == "postgresql":
        value = session.scalar(text("SELECT pg_database_size(current_database())"))
        return int(value) if value is not None else None
    return None


def archive_bytes(session: Session, account_id: int) -> int:
    query = select(func.coalesce(func.sum(Activity.file_size), 0)).where(
        Activity.account_id == account_id, Activity.state == DownloadState.DOWNLOADED
    )
    return int(session.scalar(query) or 0)


def disk_usage(path: Path) -> dict[str, int] | None:
    import shutil

    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    return {"total": usage.total, "used": usage.used, "free": usage.free}


def last_errors(session: Session, account_id: int, limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    failed = session.scalars(
        select(Activity)
        .where(Activity.account_id == account_id, Activity.state == DownloadState.FAILED)
        .order_by(Activity.updated_at.desc())
        .limit(limit)
    )
    runs = session.scalars(
        select(SyncRun)
        .where(SyncRun.account_id == account_id, SyncRun.status.in_(["error", "partial"]))
        .order_by(SyncRun.id.desc())
        .limit(limit)
    )
    tasks = session.scalars(
        select(TaskRun).where(TaskRun.state == "failed").order_by(TaskRun.updated_at.desc()).limit(limit)
    )
    return {
        "activities": [
            {"id": a.id, "name": a.name, "error": a.last_error, "updated_at": iso(a.updated_at)}
            for a in failed
        ],
        "runs": [run_row(run) for run in runs],
        "tasks": [task_row(task) for task in tasks],
    }


def ping(session: Session) -> None:
    session.execute(text("SELECT 1"))

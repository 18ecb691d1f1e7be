"""Sync runs: the filtered, paged history, one run, the current one, the latest few."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from shared.models import SyncRun
from shared.planning import date_range
from shared.reports import as_utc, run_dict

from ..cache import TTLCache
from ..errors import Missing
from ..forms import Paging, RunFilters
from .paging import Page, paged


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


def run_clauses(account_id: int, filters: RunFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [SyncRun.account_id == account_id]
    if filters.status:
        clauses.append(SyncRun.status == filters.status)
    if filters.trigger:
        clauses.append(SyncRun.trigger == filters.trigger)
    return [*clauses, *date_range(SyncRun.started_at, filters.since, filters.until)]


def list_runs(
    session: Session, account_id: int, filters: RunFilters, paging: Paging, cache: TTLCache | None = None
) -> Page:
    clauses = run_clauses(account_id, filters)
    query = select(SyncRun).where(*clauses).order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    count_query = select(func.count()).select_from(SyncRun).where(*clauses)
    key = ("runs", account_id, filters.status, filters.trigger, filters.since, filters.until)
    return paged(session, query, count_query, paging, lambda row: run_row(row[0]), cache, key)


def get_run(session: Session, account_id: int, run_id: int) -> SyncRun:
    run = session.get(SyncRun, run_id)
    if run is None or run.account_id != account_id:
        raise Missing(f"no sync run {run_id} in this account")
    return run

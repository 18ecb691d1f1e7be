"""Bookkeeping of sync runs: what each found, queued, downloaded and failed.

Downloads report their outcome with an atomic counter update; the run that
sees the last outcome closes the run, whichever worker that is. A run that
fails keeps the kind of its failure (`shared.outcomes.Kind`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Exists, delete, exists, select, update
from sqlalchemy.orm import Session

from shared.db import create_session
from shared.models import Activity, DownloadState, SyncRun
from shared.notify import events
from shared.outcomes import Kind, describe, kind_of

OUTCOME_COLUMNS = {"downloaded": "downloaded", "failed": "failed", "no_file": "no_file"}


def open_run(database_url: str, account_id: int, trigger: str, full: bool, task_id: str | None = None) -> int:
    """Create a running sync run up front, so whoever started it can follow it; its id."""
    with create_session(database_url) as session:
        run = SyncRun(account_id=account_id, trigger=trigger, full=full, status="running", task_id=task_id)
        session.add(run)
        session.flush()
        return run.id


def store_task_id(database_url: str, run_id: int, task_id: str) -> None:
    """The Celery task that carries the run (the Tasks page links the two)."""
    with create_session(database_url) as session:
        run = session.get(SyncRun, run_id)
        if run is not None and not run.task_id:
            run.task_id = task_id


def record_listing(
    session: Session,
    run_id: int,
    *,
    requests: int,
    found: int,
    new: int,
    deleted: int,
    queued: int,
    updated: int = 0,
    changed: int = 0,
) -> None:
    run = session.get(SyncRun, run_id)
    if run is None:
        return
    run.list_requests = requests
    run.found = found
    run.new = new
    run.deleted = deleted
    run.updated = updated
    run.changed = changed
    run.queued = queued
    maybe_finish(session, run)


def record_outcome(session: Session, run_id: int | None, outcome: str) -> None:
    column = OUTCOME_COLUMNS.get(outcome)
    if run_id is None or column is None:
        return
    session.execute(
        update(SyncRun).where(SyncRun.id == run_id).values({column: getattr(SyncRun, column) + 1})
    )
    run = session.get(SyncRun, run_id, populate_existing=True)
    if run is not None:
        maybe_finish(session, run)


def maybe_finish(session: Session, run: SyncRun) -> None:
    """Close the run once every queued download has an outcome."""
    if run.status != "running":
        return
    if run.downloaded + run.failed + run.no_file < run.queued:
        return
    finish(session, run, "partial" if run.failed else "success")


def _outstanding(run_id: Any) -> Exists:
    return exists().where(
        Activity.run_id == run_id,
        Activity.state.in_([DownloadState.QUEUED, DownloadState.DOWNLOADING]),
    )


def close_settled_runs(session: Session) -> int:
    """Close listed runs none of whose activities is still queued or downloading.

    A run whose activities were handed back (a login needed, the data dir
    unwritable) never counts up to `queued`; this closes it anyway, as
    `partial`, so nothing waits on it for ever.
    """
    runs = session.scalars(
        select(SyncRun).where(
            SyncRun.status == "running", SyncRun.list_requests > 0, ~_outstanding(SyncRun.id)
        )
    ).all()
    for run in runs:
        settled = run.downloaded + run.failed + run.no_file
        if settled >= run.queued:
            finish(session, run, "partial" if run.failed else "success")
        else:
            finish(
                session,
                run,
                "partial",
                f"{run.found} listed, {run.new} new, {run.downloaded} downloaded, {run.failed} failed, "
                f"{run.no_file} without file; {run.queued - settled} handed back to the next sync",
            )
    return len(runs)


def close_lost_runs(session: Session, older_than_s: float) -> int:
    """Close runs whose sync never got through its listing (its task was lost with Redis or a worker)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    runs = session.scalars(
        select(SyncRun).where(
            SyncRun.status == "running",
            SyncRun.list_requests == 0,
            SyncRun.started_at < cutoff,
            ~_outstanding(SyncRun.id),
        )
    ).all()
    for run in runs:
        finish(
            session,
            run,
            "error",
            "the sync never finished its listing (its task was lost); the next sync continues",
            Kind.LOST,
        )
    return len(runs)


def fail_account_runs(session: Session, account_id: int, message: str) -> None:
    """Close every running run of an account that cannot go on (it needs a login)."""
    for run in session.scalars(
        select(SyncRun).where(SyncRun.account_id == account_id, SyncRun.status == "running")
    ):
        finish(session, run, "error", message, Kind.AUTH)


def finish(
    session: Session, run: SyncRun, status: str, message: str | None = None, kind: Kind | None = None
) -> None:
    run.status = status
    run.finished_at = datetime.now(UTC)
    if kind is not None:
        run.error_kind = kind.value
    if message:
        run.message = message[:2000]
    elif run.message is None:
        run.message = (
            f"{run.found} listed, {run.new} new, {run.downloaded} downloaded, "
            f"{run.failed} failed, {run.no_file} without file"
        )
    # In the same transaction as the close: a run that ends once is told once.
    events.run_closed(session, run)


def fail_run(database_url: str, run_id: int, error: BaseException) -> None:
    """End a run that is still running as `error`, with the kind and one line of `error`."""
    with create_session(database_url) as session:
        run = session.get(SyncRun, run_id)
        if run is not None and run.status == "running":
            finish(session, run, "error", describe(error), kind_of(error))


def delete_runs_before(session: Session, account_id: int, before: datetime) -> int:
    """Clear old history; a run still going is never removed."""
    result = session.execute(
        delete(SyncRun).where(
            SyncRun.account_id == account_id, SyncRun.started_at < before, SyncRun.status != "running"
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)

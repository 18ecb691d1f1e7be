"""Bookkeeping of sync runs: what each found, queued, downloaded and failed.

Downloads report their outcome with an atomic counter update; the run that
sees the last outcome closes the run, whichever worker that is.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.models import SyncRun

OUTCOME_COLUMNS = {"downloaded": "downloaded", "failed": "failed", "no_file": "no_file"}


def start_run(session: Session, account_id: int, trigger: str, full: bool) -> SyncRun:
    run = SyncRun(account_id=account_id, trigger=trigger, full=full, status="running")
    session.add(run)
    session.flush()
    return run


def record_listing(
    session: Session, run_id: int, *, requests: int, found: int, new: int, deleted: int, queued: int
) -> None:
    run = session.get(SyncRun, run_id)
    if run is None:
        return
    run.list_requests = requests
    run.found = found
    run.new = new
    run.deleted = deleted
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


def finish(session: Session, run: SyncRun, status: str, message: str | None = None) -> None:
    run.status = status
    run.finished_at = datetime.now(UTC)
    if message:
        run.message = message[:2000]
    elif run.message is None:
        run.message = (
            f"{run.found} listed, {run.new} new, {run.downloaded} downloaded, "
            f"{run.failed} failed, {run.no_file} without file"
        )


def fail_run(session: Session, run_id: int, message: str) -> None:
    run = session.get(SyncRun, run_id)
    if run is not None and run.status == "running":
        finish(session, run, "error", message)

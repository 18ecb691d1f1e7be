"""The System page and the health checks: store size and rows, archive bytes, disk, last errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.models import Account, Activity, DownloadState, Schedule, SyncRun, TaskRun
from shared.reports import iso

from .runs import run_row
from .tasks import task_row

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

"""Task history in `task_runs`: written from Celery's signals, kept after restarts.

Plain SQLAlchemy, so the dispatcher can use it too: a worker that died
(it no longer renews its alive flag) has its `started` rows marked lost and
their activities handed back by whichever worker notices first.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shared.db import create_session
from shared.models import Notification, TaskRun

log = logging.getLogger(__name__)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def ids_from(args: Any, kwargs: Any) -> tuple[int | None, int | None]:
    """(account id, activity id) from a task's arguments; nothing else is kept."""
    kwargs = kwargs or {}
    account = kwargs.get("account_id")
    activity = kwargs.get("activity_id")
    if activity is None and args and isinstance(args[0], int):
        activity = args[0]
    return account, activity


def args_text(args: Any, kwargs: Any) -> str:
    """Tasks carry ids only; keep a short, secret-free rendering."""
    parts = [repr(a) for a in (args or ())]
    parts += [f"{k}={v!r}" for k, v in sorted((kwargs or {}).items()) if k != "password"]
    return ", ".join(parts)[:500]


def record(db_url: str, task_id: str, **values: Any) -> None:
    """Upsert one task's row; history must never break a task."""
    values["updated_at"] = datetime.now(UTC)
    try:
        with create_session(db_url) as session:
            result = session.execute(update(TaskRun).where(TaskRun.task_id == task_id).values(**values))
            if not _rowcount(result):
                values.setdefault("name", "unknown")
                values.setdefault("state", "queued")
                session.add(TaskRun(task_id=task_id, **values))
    except IntegrityError:
        record(db_url, task_id, **values)  # another process inserted it first
    except (SQLAlchemyError, OSError) as exc:
        log.warning("could not record task %s: %s", task_id, exc)


def record_queued_many(db_url: str, name: str, queue: str, items: list[tuple[str, tuple[Any, ...]]]) -> None:
    """One INSERT for a whole batch of published tasks."""
    now = datetime.now(UTC)
    rows = [
        {
            "task_id": task_id,
            "name": name,
            "state": "queued",
            "queue": queue,
            "args": args_text(args, None),
            "activity_id": ids_from(args, None)[1],
            "queued_at": now,
            "updated_at": now,
            "retries": 0,
        }
        for task_id, args in items
    ]
    if not rows:
        return
    with create_session(db_url) as session:
        session.execute(insert(TaskRun), rows)


def mark_lost(db_url: str, worker: str | None = None, older_than_s: float | None = None) -> list[int]:
    """Mark `started` runs as lost (a dead worker's, or older than a bound); their activity ids."""
    query = update(TaskRun).where(TaskRun.state == "started")
    if worker:
        query = query.where(TaskRun.worker == worker)
    if older_than_s is not None:
        query = query.where(TaskRun.started_at < datetime.now(UTC) - timedelta(seconds=older_than_s))
    with create_session(db_url) as session:
        result = session.execute(
            query.values(
                state="lost",
                error="the worker died while running it",
                updated_at=datetime.now(UTC),
            ).returning(TaskRun.activity_id)
        )
        return [activity_id for activity_id in result.scalars() if activity_id is not None]


def busy_workers(db_url: str, started_before: datetime) -> set[str]:
    """Workers with a task `started` before the given time."""
    with create_session(db_url) as session:
        return {
            str(name)
            for name in session.scalars(
                select(TaskRun.worker)
                .where(TaskRun.state == "started", TaskRun.started_at < started_before)
                .distinct()
            )
            if name
        }


def trim_history(db_url: str, days: int) -> int:
    """Keep `days` of task history (GARMINSYNC_TASK_HISTORY_DAYS)."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with create_session(db_url) as session:
        result = session.execute(delete(TaskRun).where(TaskRun.updated_at < cutoff))
        # The notifications' delivery history is kept as long (never one still to be sent).
        session.execute(
            delete(Notification).where(
                Notification.created_at < cutoff, Notification.status.in_(["sent", "failed"])
            )
        )
        return _rowcount(result)

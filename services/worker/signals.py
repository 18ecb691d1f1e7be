"""Task history in `task_runs`, fed by Celery signals, so it survives restarts.

Also the worker's process hygiene (after Superset): each forked child drops
the parent's engine and runtime, and a worker that starts again marks the
tasks it was running when it died as `lost` (Redis re-delivers them).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import signals
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shared.db import create_session
from shared.models import TaskRun
from shared.runtime import get_runtime, reset_after_fork

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _ids_from(args: Any, kwargs: Any) -> tuple[int | None, int | None]:
    """(account id, activity id) from a task's arguments; nothing else is kept."""
    kwargs = kwargs or {}
    account = kwargs.get("account_id")
    activity = kwargs.get("activity_id")
    if activity is None and args and isinstance(args[0], int):
        activity = args[0]
    return account, activity


def _args_text(args: Any, kwargs: Any) -> str:
    """Tasks carry ids only; keep a short, secret-free rendering."""
    parts = [repr(a) for a in (args or ())]
    parts += [f"{k}={v!r}" for k, v in sorted((kwargs or {}).items()) if k != "password"]
    return ", ".join(parts)[:500]


def record(task_id: str, **values: Any) -> None:
    """Upsert one task's row; history must never break a task."""
    values["updated_at"] = datetime.now(UTC)
    try:
        with create_session(get_runtime().settings.database_url) as session:
            result = session.execute(update(TaskRun).where(TaskRun.task_id == task_id).values(**values))
            if not _rowcount(result):
                values.setdefault("name", "unknown")
                values.setdefault("state", "queued")
                session.add(TaskRun(task_id=task_id, **values))
    except IntegrityError:
        record(task_id, **values)  # another process inserted it first
    except (SQLAlchemyError, OSError) as exc:
        log.warning("could not record task %s: %s", task_id, exc)


def record_queued_many(name: str, queue: str, items: list[tuple[str, tuple[Any, ...]]]) -> None:
    """One INSERT for a whole fan-out, so publishing thousands of tasks stays fast."""
    now = datetime.now(UTC)
    rows = [
        {
            "task_id": task_id,
            "name": name,
            "state": "queued",
            "queue": queue,
            "args": _args_text(args, None),
            "activity_id": _ids_from(args, None)[1],
            "queued_at": now,
            "updated_at": now,
            "retries": 0,
        }
        for task_id, args in items
    ]
    if not rows:
        return
    with create_session(get_runtime().settings.database_url) as session:
        session.execute(insert(TaskRun), rows)


@signals.before_task_publish.connect
def _published(
    sender: str | None = None,
    headers: dict[str, Any] | None = None,
    body: Any = None,
    routing_key: str | None = None,
    **_: Any,
) -> None:
    headers = headers or {}
    if sender == "garminsync.download_activity" and not headers.get("retries"):
        return  # fan-outs record their rows in bulk (record_queued_many)
    args, kwargs = (body[0], body[1]) if isinstance(body, tuple | list) and len(body) >= 2 else ((), {})
    account, activity = _ids_from(args, kwargs)
    record(
        str(headers.get("id")),
        name=sender or "unknown",
        state="queued",
        queue=routing_key,
        args=_args_text(args, kwargs),
        account_id=account,
        activity_id=activity,
        queued_at=datetime.now(UTC),
        retries=int(headers.get("retries") or 0),
    )


@signals.task_prerun.connect
def _prerun(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    if not task_id or task is None or task.request.is_eager:
        return
    _started[task_id] = time.monotonic()
    account, activity = _ids_from(args, kwargs)
    record(
        task_id,
        name=task.name,
        state="started",
        started_at=datetime.now(UTC),
        worker=task.request.hostname,
        retries=task.request.retries,
        args=_args_text(args, kwargs),
        account_id=account,
        activity_id=activity,
    )


def _finish(task_id: str, state: str, **values: Any) -> None:
    began = _started.pop(task_id, None)
    runtime = time.monotonic() - began if began is not None else None
    record(task_id, state=state, finished_at=datetime.now(UTC), runtime_s=runtime, **values)


@signals.task_success.connect
def _success(sender: Any = None, result: Any = None, **_: Any) -> None:
    if sender is None or sender.request.is_eager:
        return
    _finish(sender.request.id, "succeeded", result=repr(result)[:500], error=None)


@signals.task_retry.connect
def _retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    if request is None or getattr(request, "is_eager", False):
        return
    _started.pop(request.id, None)
    record(
        request.id,
        state="retried",
        retries=int(request.retries) + 1,
        error=str(reason).splitlines()[0][:500] if reason else None,
    )


@signals.task_failure.connect
def _failure(
    task_id: str | None = None, exception: BaseException | None = None, sender: Any = None, **_: Any
) -> None:
    if not task_id or (sender is not None and sender.request.is_eager):
        return
    message = f"{type(exception).__name__}: {exception}" if exception else "failed"
    _finish(task_id, "failed", error=message.splitlines()[0][:500])


@signals.task_rejected.connect
@signals.task_revoked.connect
def _revoked(request: Any = None, **_: Any) -> None:
    if request is not None and getattr(request, "id", None):
        _finish(request.id, "revoked")


@signals.worker_process_init.connect
def _child_started(**_: Any) -> None:
    reset_after_fork()


@signals.worker_ready.connect
def _worker_ready(sender: Any = None, **_: Any) -> None:
    """Tasks this worker ran when it died were lost with it; Redis re-delivers them."""
    hostname = getattr(sender, "hostname", None)
    if not hostname:
        return
    mark_lost(worker=hostname)
    trim_history()
    get_runtime().storage.remove_partials()


def mark_lost(worker: str | None = None, older_than_s: int | None = None) -> int:
    """Mark `started` runs as lost: those of a restarted worker, or older than a bound."""
    query = update(TaskRun).where(TaskRun.state == "started")
    if worker:
        query = query.where(TaskRun.worker == worker)
    if older_than_s is not None:
        query = query.where(TaskRun.started_at < datetime.now(UTC) - timedelta(seconds=older_than_s))
    with create_session(get_runtime().settings.database_url) as session:
        result = session.execute(
            query.values(
                state="lost",
                error="the worker died while running it; re-delivered",
                updated_at=datetime.now(UTC),
            )
        )
        return _rowcount(result)


def trim_history() -> int:
    """Keep GARMINSYNC_TASK_HISTORY_DAYS of task history."""
    settings = get_runtime().settings
    cutoff = datetime.now(UTC) - timedelta(days=settings.task_history_days)
    with create_session(settings.database_url) as session:
        result = session.execute(delete(TaskRun).where(TaskRun.updated_at < cutoff))
        return _rowcount(result)

"""Task history in `task_runs`, fed by Celery signals (`shared.task_history` writes it).

Also the worker's process hygiene (after Superset): each forked child drops
the parent's engine and runtime, and a worker that starts again marks the
tasks it was running when it died as `lost` and hands their activities back.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import signals

from services.worker.names import DOWNLOAD_TASK
from shared import task_history
from shared.backlog import hand_back
from shared.db import create_session
from shared.runtime import get_runtime, reset_after_fork
from shared.task_history import args_text, ids_from

log = logging.getLogger(__name__)
_started: dict[str, float] = {}


def _db_url() -> str:
    return get_runtime().settings.database_url


def record(task_id: str, **values: Any) -> None:
    task_history.record(_db_url(), task_id, **values)


def record_queued_many(name: str, queue: str, items: list[tuple[str, tuple[Any, ...]]]) -> None:
    task_history.record_queued_many(_db_url(), name, queue, items)


@signals.before_task_publish.connect
def _published(
    sender: str | None = None,
    headers: dict[str, Any] | None = None,
    body: Any = None,
    routing_key: str | None = None,
    **_: Any,
) -> None:
    headers = headers or {}
    if sender == DOWNLOAD_TASK and not headers.get("retries"):
        return  # the dispatcher records its rows in bulk (record_queued_many)
    args, kwargs = (body[0], body[1]) if isinstance(body, tuple | list) and len(body) >= 2 else ((), {})
    account, activity = ids_from(args, kwargs)
    record(
        str(headers.get("id")),
        name=sender or "unknown",
        state="queued",
        queue=routing_key,
        args=args_text(args, kwargs),
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
    account, activity = ids_from(args, kwargs)
    record(
        task_id,
        name=task.name,
        state="started",
        started_at=datetime.now(UTC),
        worker=task.request.hostname,
        retries=task.request.retries,
        args=args_text(args, kwargs),
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
    lost = mark_lost(worker=hostname)
    if lost:
        with create_session(get_runtime().settings.database_url) as session:
            handed = hand_back(session, lost)
        log.warning("%d download(s) this worker was running when it stopped go back to the backlog", handed)
    trim_history()
    get_runtime().storage.remove_partials()


def mark_lost(worker: str | None = None, older_than_s: int | None = None) -> list[int]:
    return task_history.mark_lost(_db_url(), worker, older_than_s)


def trim_history() -> int:
    return task_history.trim_history(_db_url(), get_runtime().settings.task_history_days)

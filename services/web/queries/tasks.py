"""Task history (`task_runs`): the filtered, paged list, one task, names and counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from shared.models import TaskRun
from shared.reports import iso

from ..cache import TTLCache
from ..errors import Missing
from ..forms import Paging, TaskFilters
from .paging import Page, paged

ACTIVE_TASK_STATES = ("queued", "started", "retried")  # what a revoke can still stop


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
    return paged(session, query, count_query, paging, lambda row: task_row(row[0]), cache, key)


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

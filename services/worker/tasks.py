"""The Celery tasks: thin shells over `shared.jobs`.

They carry ids only, never secrets. Transient trouble becomes a Celery retry
with back-off (or Garmin's Retry-After); auth trouble does not retry: the
account waits for `garminsync login`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Reject

from services.worker.dispatch import enqueue_downloads
from shared import jobs
from shared.db import create_session
from shared.errors import AuthRequired, RateLimited, TransientError
from shared.planning import Filters
from shared.runs import fail_run
from shared.runtime import get_runtime

MAX_RETRIES = 12


@shared_task(bind=True, name="garminsync.download_activity", max_retries=MAX_RETRIES)
def download_activity(self: Task, activity_id: int, run_id: int | None = None) -> dict[str, Any]:
    runtime = get_runtime()
    try:
        outcome = jobs.archive(runtime, activity_id, run_id, max_wait=runtime.settings.max_wait_s)
    except AuthRequired as exc:
        if run_id is not None:  # the run cannot finish until someone logs in: say so
            with create_session(runtime.settings.database_url) as session:
                fail_run(session, run_id, str(exc))
        raise Reject(str(exc), requeue=False) from None
    if outcome.status == "retry":
        delay = outcome.retry_after or jobs.backoff_delay(self.request.retries, runtime.settings.retry_base_s)
        raise self.retry(countdown=delay, max_retries=None if outcome.retry_after else MAX_RETRIES)
    return {"activity_id": activity_id, "status": outcome.status, "path": outcome.path}


class SyncTask(Task):
    """Closes the run as `error` when the sync gives up for good."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        run_id = (kwargs or {}).get("run_id")
        if run_id is not None:
            with create_session(get_runtime().settings.database_url) as session:
                fail_run(session, int(run_id), str(exc))


@shared_task(bind=True, base=SyncTask, name="garminsync.sync_account", max_retries=5)
def sync_account(
    self: Task,
    account_id: int,
    run_id: int | None = None,
    full: bool = False,
    since: str | None = None,
    until: str | None = None,
    activity_type: str | None = None,
    trigger: str = "schedule",
) -> dict[str, Any]:
    runtime = get_runtime()
    if run_id is None:  # a scheduled run: open it here and keep it across retries
        run_id = jobs.open_run_for(runtime, account_id, trigger, full)
        self.request.kwargs["run_id"] = run_id
    filters = Filters(
        since=date.fromisoformat(since) if since else None,
        until=date.fromisoformat(until) if until else None,
        activity_type=activity_type,
    )
    try:
        summary = jobs.sync_account(
            runtime,
            account_id,
            run_id,
            full=full,
            filters=filters,
            fan_out=enqueue_downloads,
            max_wait=runtime.settings.max_wait_s,
        )
    except AuthRequired as exc:
        raise Reject(str(exc), requeue=False) from None
    except (RateLimited, TransientError) as exc:
        delay = getattr(exc, "retry_after", None) or jobs.backoff_delay(
            self.request.retries, runtime.settings.retry_base_s
        )
        raise self.retry(countdown=delay, exc=exc, kwargs={**self.request.kwargs, "run_id": run_id}) from None
    return {"run_id": summary.run_id, "new": summary.new, "queued": len(summary.queued)}

"""The Celery tasks: thin shells over `shared.jobs`.

They carry ids only, never secrets. A download never waits for the budget by
retrying: the dispatcher publishes it when its slot is near, and if the slot
is still taken after GARMINSYNC_MAX_WAIT the activity simply goes back to the
backlog. Transient trouble also goes back to the backlog, with a back-off; auth
trouble hands the account's backlog back until `garminsync login`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from celery import Task, shared_task

from services.worker.names import DOWNLOAD_TASK, NOTIFY_TASK, SYNC_TASK
from shared import jobs
from shared.archive import backoff_delay
from shared.errors import AuthRequired, RateLimited, TransientError
from shared.notify.delivery import deliver
from shared.planning import Filters
from shared.runs import fail_run, open_run
from shared.runtime import get_runtime

log = logging.getLogger(__name__)

SYNC_MAX_RETRIES = 5
SYNC_SOFT_LIMIT_S = 3600
NOTIFY_RETRY_S = (30, 120, 480, 900)  # then the delivery is recorded as failed


@shared_task(name=DOWNLOAD_TASK)
def download_activity(activity_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Archive one activity. `run_id` is accepted from tasks published before revision 0002."""
    runtime = get_runtime()
    try:
        outcome = jobs.archive(runtime, activity_id, max_wait=runtime.settings.max_wait_s)
    except AuthRequired as exc:
        log.warning("activity %s: %s", activity_id, exc)
        return {"activity_id": activity_id, "status": "needs_login"}
    result: dict[str, Any] = {"activity_id": activity_id, "status": outcome.status}
    if outcome.path:
        result["path"] = outcome.path
    if outcome.status == "retry" and outcome.retry_after:
        result["retry_in_s"] = round(outcome.retry_after, 1)
    return result


class SyncTask(Task):
    """Closes the run as `error` when the sync gives up for good."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        run_id = (kwargs or {}).get("run_id")
        if run_id is not None:
            fail_run(get_runtime().settings.database_url, int(run_id), exc)


@shared_task(
    bind=True,
    base=SyncTask,
    name=SYNC_TASK,
    max_retries=SYNC_MAX_RETRIES,
    # A first listing of a big account waits for the budget page after page (30 pages a
    # minute at 30/minute): it is slow, not hung. Below the visibility timeout (2 h),
    # or Redis would hand the running sync to a second worker.
    soft_time_limit=SYNC_SOFT_LIMIT_S,
    time_limit=SYNC_SOFT_LIMIT_S + 300,
)
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
        run_id = open_run(runtime.settings.database_url, account_id, trigger, full, task_id=self.request.id)
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
            max_wait=jobs.listing_wait_s(runtime),
        )
    except AuthRequired as exc:
        log.warning("sync of account %s: %s", account_id, exc)
        return {"run_id": run_id, "status": "needs_login"}
    except (RateLimited, TransientError) as exc:
        delay = getattr(exc, "retry_after", None) or backoff_delay(
            self.request.retries, runtime.settings.retry_base_s
        )
        raise self.retry(countdown=delay, exc=exc, kwargs={**self.request.kwargs, "run_id": run_id}) from None
    return {"run_id": summary.run_id, "new": summary.new, "queued": len(summary.queued)}


@shared_task(
    bind=True, name=NOTIFY_TASK, max_retries=len(NOTIFY_RETRY_S), soft_time_limit=120, time_limit=180
)
def notify(self: Task, notification_id: int) -> dict[str, Any]:
    """Send one recorded notification. It carries the row's id only: the URLs are read here."""
    runtime = get_runtime()
    final = self.request.retries >= len(NOTIFY_RETRY_S)
    outcome = deliver(runtime.settings, runtime.cipher, notification_id, final=final)
    if outcome == "retry":
        raise self.retry(countdown=NOTIFY_RETRY_S[self.request.retries]) from None
    if outcome == "failed":
        log.warning("notification %s not delivered after %d tries", notification_id, self.request.retries + 1)
    return {"notification_id": notification_id, "status": outcome}

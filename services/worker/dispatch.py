"""How the CLI and the dashboard hand work to the workers (Redis mode).

A sync is a task on the `sync` queue. Downloads are not published here: the
claimed activities wait in the database, and the workers' dispatcher
publishes them at the pace of each account's budget. Handing them on only
needs Redis to be reachable (the workers' broker); when it is not, the claims
are given back at once, so nothing waits for a queue it never reached.

`WorkerQueue` is this hand-off as the use cases see it
(`shared.usecases.delivery.WorkQueue`); the dashboard's broker wraps the
same functions with its own Celery app.
"""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError

from services.worker.names import SYNC_QUEUE, SYNC_TASK
from shared.coordination import RedisCoordinator
from shared.db import create_session
from shared.errors import BrokerUnavailable
from shared.planning import Filters, release
from shared.runtime import get_runtime


def _require_broker() -> None:
    """Fail fast with one clear line instead of kombu's reconnect loop."""
    coordinator = get_runtime().coordinator
    if isinstance(coordinator, RedisCoordinator) and not coordinator.ping():
        raise BrokerUnavailable("cannot reach Redis (REDIS_URL): nothing was queued")


def enqueue_sync(
    account_id: int,
    run_id: int,
    full: bool = False,
    filters: Filters | None = None,
    app: Celery | None = None,
) -> str:
    """Queue a sync of one account; returns the Celery task id."""
    if app is None:
        from services.worker.celery_app import app as default_app

        app = default_app
    filters = filters or Filters()
    _require_broker()
    try:
        result = app.send_task(
            SYNC_TASK,
            kwargs={
                "account_id": account_id,
                "run_id": run_id,
                "full": full,
                "since": filters.since.isoformat() if filters.since else None,
                "until": filters.until.isoformat() if filters.until else None,
                "activity_type": filters.activity_type,
            },
            queue=SYNC_QUEUE,
            retry=False,
        )
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(f"cannot reach Redis to queue the sync: {exc}") from None
    return str(result.id)


def enqueue_downloads(activity_ids: list[int]) -> None:
    """Hand claimed activities to the workers; gives the claims back if Redis is unreachable.

    The claim already says which run (if any) an activity belongs to.
    """
    try:
        _require_broker()
    except BrokerUnavailable:
        with create_session(get_runtime().settings.database_url) as session:
            release(session, activity_ids)
        raise


class WorkerQueue:
    """The hand-off to the workers for the CLI, with the worker's own Celery app."""

    def redis_ping(self) -> bool:
        try:
            _require_broker()
        except BrokerUnavailable:
            return False
        return True

    def enqueue_sync(self, account_id: int, run_id: int, full: bool, filters: Filters | None) -> str:
        return enqueue_sync(account_id, run_id, full, filters)

    def enqueue_downloads(self, activity_ids: list[int]) -> None:
        enqueue_downloads(activity_ids)

    def mirror_schedules(self) -> bool:
        from services.worker.beat import mirror_schedules

        return mirror_schedules()

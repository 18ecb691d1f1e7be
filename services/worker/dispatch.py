"""How the CLI and the dashboard hand work to the workers (Redis mode)."""

from __future__ import annotations

from uuid import uuid4

from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from shared.coordination import RedisCoordinator
from shared.errors import BrokerUnavailable
from shared.planning import Filters
from shared.runtime import get_runtime


def _require_broker() -> None:
    """Fail fast with one clear line instead of kombu's reconnect loop."""
    coordinator = get_runtime().coordinator
    if isinstance(coordinator, RedisCoordinator) and not coordinator.ping():
        raise BrokerUnavailable("cannot reach Redis (REDIS_URL): nothing was queued")


def enqueue_sync(account_id: int, run_id: int, full: bool = False, filters: Filters | None = None) -> str:
    """Queue a sync of one account; returns the Celery task id."""
    import services.worker.celery_app  # noqa: F401  (the configured app becomes current)
    from services.worker.tasks import sync_account

    filters = filters or Filters()
    _require_broker()
    try:
        result = sync_account.apply_async(
            kwargs={
                "account_id": account_id,
                "run_id": run_id,
                "full": full,
                "since": filters.since.isoformat() if filters.since else None,
                "until": filters.until.isoformat() if filters.until else None,
                "activity_type": filters.activity_type,
            },
            retry=False,
        )
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(f"cannot reach Redis to queue the sync: {exc}") from None
    return str(result.id)


def enqueue_downloads(activity_ids: list[int], run_id: int | None = None) -> None:
    """One task per activity over one broker connection; their history rows in one INSERT."""
    from services.worker.celery_app import DOWNLOAD_QUEUE  # also makes the configured app current
    from services.worker.signals import record_queued_many
    from services.worker.tasks import download_activity

    _require_broker()
    items = [(uuid4().hex, (activity_id, run_id)) for activity_id in activity_ids]
    record_queued_many(download_activity.name, DOWNLOAD_QUEUE, items)
    try:
        with (
            download_activity.app.producer_or_acquire() as producer,
            # kombu buffers the messages and writes them in pipelined round trips
            # instead of one Redis client and round trip per message.
            producer.batch(max_size=PUBLISH_BATCH),
        ):
            for task_id, args in items:
                download_activity.apply_async(
                    args,
                    task_id=task_id,
                    producer=producer,
                    retry=False,
                    argsrepr=repr(args),  # spares Celery's saferepr
                    kwargsrepr="{}",
                )
    except (OperationalError, OSError, RedisError) as exc:
        raise BrokerUnavailable(f"cannot reach Redis to queue downloads: {exc}") from None


PUBLISH_BATCH = 1000

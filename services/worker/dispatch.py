"""How the CLI and the dashboard hand work to the workers (Redis mode)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
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
        with download_activity.app.producer_or_acquire() as producer:
            for start in range(0, len(items), PUBLISH_BATCH):
                with _one_round_trip(producer):
                    for task_id, args in items[start : start + PUBLISH_BATCH]:
                        download_activity.apply_async(
                            args,
                            task_id=task_id,
                            producer=producer,
                            retry=False,
                            argsrepr=repr(args),
                            kwargsrepr="{}",  # spares Celery's saferepr
                        )
    except (OperationalError, OSError, RedisError) as exc:
        raise BrokerUnavailable(f"cannot reach Redis to queue downloads: {exc}") from None


PUBLISH_BATCH = 2000


@contextmanager
def _one_round_trip(producer: Any) -> Iterator[None]:
    """Publish a batch of messages in one MULTI/EXEC instead of one Redis client each.

    kombu's Redis channel builds a new client object for every message it puts
    (`Channel.conn_or_acquire`), which costs more than the publish itself; for
    the duration of the batch it gets one transactional pipeline instead, so a
    batch is queued whole or not at all. Other transports publish as usual.
    """
    channel = producer.channel
    if not (hasattr(channel, "conn_or_acquire") and hasattr(channel, "client")):
        yield
        return
    pipe = channel.client.pipeline(transaction=True)
    channel.conn_or_acquire = lambda client=None: nullcontext(client or pipe)
    try:
        yield
        pipe.execute()
    finally:
        del channel.conn_or_acquire

"""The dispatcher thread of each worker: publishes downloads at the pace of the budgets.

Every worker's main process runs one (started when the worker is ready,
stopped when it shuts down); a lease in Redis lets one lead while the others
stand by, so a worker that dies hands the job over within seconds. The logic
is `shared.pacing.Dispatcher`; this module only publishes to Celery and keeps
the loop alive through Redis and database outages.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import uuid4

from celery import Celery, signals
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from services.worker.names import DOWNLOAD_QUEUE, DOWNLOAD_TASK, NOTIFY_QUEUE, NOTIFY_TASK
from services.worker.signals import record_queued_many
from shared.errors import BrokerUnavailable, GarminSyncError
from shared.extras import Wants
from shared.notify.delivery import relay
from shared.pacing import Dispatcher
from shared.runtime import get_runtime

log = logging.getLogger(__name__)

PUBLISH_BATCH = 1000
OUTAGE_PAUSE_S = 2.0


def publish_downloads(app: Celery, activity_ids: list[int]) -> None:
    """One task per activity over one connection; their history rows in one INSERT."""
    items = [(uuid4().hex, (activity_id,)) for activity_id in activity_ids]
    record_queued_many(DOWNLOAD_TASK, DOWNLOAD_QUEUE, items)
    try:
        with (
            app.producer_or_acquire() as producer,
            # kombu buffers the messages and writes them in pipelined round trips.
            producer.batch(max_size=PUBLISH_BATCH),
        ):
            for task_id, args in items:
                app.send_task(
                    DOWNLOAD_TASK,
                    args=args,
                    task_id=task_id,
                    queue=DOWNLOAD_QUEUE,
                    producer=producer,
                    retry=False,
                    argsrepr=repr(args),
                    kwargsrepr="{}",
                )
    except (OperationalError, OSError, RedisError) as exc:
        raise BrokerUnavailable(f"cannot reach Redis to publish downloads: {exc}") from None


def publish_notifications(app: Celery, notification_ids: list[int]) -> None:
    """One `garminsync.notify` task per recorded notification: its id (a keyword, so the task
    history never takes it for an activity), never a URL. A handful at a time: each is
    recorded in the history by the publish signal."""
    try:
        with app.producer_or_acquire() as producer:
            for notification_id in notification_ids:
                app.send_task(
                    NOTIFY_TASK,
                    kwargs={"notification_id": notification_id},
                    queue=NOTIFY_QUEUE,
                    producer=producer,
                    retry=False,
                )
    except (OperationalError, OSError, RedisError) as exc:
        raise BrokerUnavailable(f"cannot reach Redis to publish notifications: {exc}") from None


class DispatcherThread(threading.Thread):
    """Ticks the dispatcher until stopped; an outage is a warning, never the end of the loop."""

    def __init__(self, app: Celery, worker: str, downloading_lease_s: float) -> None:
        super().__init__(name="garminsync-dispatcher", daemon=True)
        runtime = get_runtime()
        self.dispatcher = Dispatcher(
            database_url=runtime.settings.database_url,
            limiter=runtime.limiter,
            coordinator=runtime.coordinator,
            publish=lambda ids: publish_downloads(app, ids),
            relay=lambda: relay(
                runtime.settings, runtime.cipher, lambda ids: publish_notifications(app, ids)
            ),
            worker=worker,
            downloading_lease_s=downloading_lease_s,
            max_wait_s=runtime.settings.max_wait_s,
            wants=Wants.of(runtime.settings),
            storage=runtime.storage,
        )
        self._stop_event = threading.Event()
        self._trouble: str | None = None

    def run(self) -> None:
        while not self._stop_event.is_set():
            pause = self.dispatcher.tick_s
            try:
                self.dispatcher.tick()
                if self._trouble:
                    log.info("dispatcher: working again")
                    self._trouble = None
            except (GarminSyncError, SQLAlchemyError, RedisError, OSError) as exc:
                self._report(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                pause = OUTAGE_PAUSE_S
            except Exception:
                log.exception("dispatcher: unexpected error; continuing")
                pause = OUTAGE_PAUSE_S
            self._stop_event.wait(pause)

    def _report(self, trouble: str) -> None:
        if trouble != self._trouble:  # one line per new trouble, not one per tick
            log.warning("dispatcher paused: %s", trouble)
            self._trouble = trouble

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


_thread: DispatcherThread | None = None


@signals.worker_ready.connect
def _start(sender: Any = None, **_: Any) -> None:
    global _thread
    from services.worker.celery_app import TASK_HARD_LIMIT_S

    if get_runtime().settings.embedded or _thread is not None:
        return
    worker = str(getattr(sender, "hostname", None) or "worker")
    _thread = DispatcherThread(sender.app, worker, downloading_lease_s=TASK_HARD_LIMIT_S + 60)
    _thread.start()


@signals.worker_shutdown.connect
def _stop(**_: Any) -> None:
    global _thread
    if _thread is not None:
        _thread.stop()
        _thread = None

"""The dashboard's view of the queue: enqueue, revoke, workers and queue lengths.

Work is handed on through `services.worker.dispatch`, like the CLI does. The
Celery app is built from the dashboard's own settings on first use, and every
call that crosses to Redis is bounded by a short timeout: a dashboard whose
broker is down keeps answering (read-only) instead of hanging.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.worker.names import QUEUES
from shared.config import Settings
from shared.errors import BrokerUnavailable
from shared.planning import Filters
from shared.usecases.delivery import WorkQueue

log = logging.getLogger(__name__)

INSPECT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    active: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "active": self.active}


@dataclass(frozen=True)
class BrokerHealth:
    """What the tasks and system pages show about Redis and the workers."""

    mode: str  # "redis" or "embedded"
    redis_ok: bool
    error: str | None
    workers: list[WorkerInfo]
    queues: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "redis_ok": self.redis_ok,
            "error": self.error,
            "workers": [worker.as_dict() for worker in self.workers],
            "queues": self.queues,
        }


class Broker(WorkQueue, Protocol):
    """The workers' queue (`shared.usecases.delivery.WorkQueue`) plus what the Tasks and
    System pages need: revoking a task, workers and queue lengths. Tests pass a fake."""

    def revoke(self, task_id: str) -> None: ...

    def health(self) -> BrokerHealth: ...


class CeleryBroker:
    """Redis mode: Celery for tasks and control, a plain Redis client for lengths."""

    def __init__(self, settings: Settings) -> None:
        if not settings.redis_url:
            raise ValueError("CeleryBroker needs REDIS_URL")
        self.settings = settings
        self._celery: Any = None
        self._redis: Any = None
        self._lock = threading.Lock()

    def _app(self) -> Any:
        with self._lock:
            if self._celery is None:
                from services.worker.celery_app import create_celery

                self._celery = create_celery(self.settings)
                # Request threads fall back to the default app, not the creating thread's.
                self._celery.set_default()
            self._celery.set_current()
            return self._celery

    def _client(self) -> Any:
        with self._lock:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(
                    str(self.settings.redis_url), socket_connect_timeout=1, socket_timeout=2
                )
            return self._redis

    def enqueue_sync(self, account_id: int, run_id: int, full: bool, filters: Filters | None) -> str:
        self._require_redis()
        from services.worker.dispatch import enqueue_sync

        # This dashboard's broker, not the module-level app some other import configured first.
        return enqueue_sync(account_id, run_id, full, filters, app=self._app())

    def enqueue_downloads(self, activity_ids: list[int]) -> None:
        """Gives the claims back if Redis is unreachable (`services.worker.dispatch`)."""
        self._app()
        from services.worker.dispatch import enqueue_downloads

        enqueue_downloads(activity_ids)

    def revoke(self, task_id: str) -> None:
        self._require_redis()
        try:
            self._app().control.revoke(task_id)
        except Exception as exc:  # kombu/redis errors vary by transport
            raise BrokerUnavailable(f"cannot reach Redis to revoke the task: {exc}") from None

    def redis_ping(self) -> bool:
        try:
            return bool(self._client().ping())
        except Exception:
            return False

    def mirror_schedules(self) -> bool:
        from services.worker.beat import mirror_schedules

        return bool(mirror_schedules(self._app(), self.settings))

    def _require_redis(self) -> None:
        """Fail in a second with a clear line instead of kombu's connection retries."""
        if not self.redis_ping():
            raise BrokerUnavailable("Redis is unreachable: nothing can be queued right now")

    def health(self) -> BrokerHealth:
        if not self.redis_ping():
            return BrokerHealth("redis", False, "Redis is unreachable", [], {})
        queues: dict[str, int] = {}
        try:
            client = self._client()
            for queue in QUEUES:
                queues[queue] = int(client.llen(queue))
        except Exception as exc:
            return BrokerHealth("redis", False, f"Redis error: {exc}", [], {})
        try:
            inspect = self._app().control.inspect(timeout=INSPECT_TIMEOUT_S)
            pings = inspect.ping() or {}
            active = (inspect.active() or {}) if pings else {}
        except Exception as exc:
            log.debug("worker inspection failed", exc_info=True)
            return BrokerHealth("redis", True, f"cannot inspect workers: {exc}", [], queues)
        workers = [
            WorkerInfo(name, [_active_entry(task) for task in active.get(name, [])]) for name in sorted(pings)
        ]
        return BrokerHealth("redis", True, None, workers, queues)


def _active_entry(task: dict[str, Any]) -> dict[str, Any]:
    """What the Tasks page shows of a running task: id, name, arguments (ids: tasks never
    carry secrets) and start time; nothing else of Celery's request."""
    return {
        "id": task.get("id"),
        "name": task.get("name"),
        "args": task.get("args"),
        "kwargs": task.get("kwargs"),
        "time_start": task.get("time_start"),
    }


class NoBroker:
    """Embedded mode: there is no queue; the runner does the work in-process."""

    def enqueue_sync(self, account_id: int, run_id: int, full: bool, filters: Filters | None) -> str:
        raise BrokerUnavailable("no broker in embedded mode")

    def enqueue_downloads(self, activity_ids: list[int]) -> None:
        raise BrokerUnavailable("no broker in embedded mode")

    def revoke(self, task_id: str) -> None:
        raise BrokerUnavailable("no broker in embedded mode: there are no Celery tasks to revoke")

    def redis_ping(self) -> bool:
        return False

    def mirror_schedules(self) -> bool:
        return False

    def health(self) -> BrokerHealth:
        return BrokerHealth("embedded", False, None, [], {})

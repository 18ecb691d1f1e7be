"""Where a use case's work goes: to the workers (Redis), or run in this process.

A use case is written once against `Delivery`; which one it gets is the
mode (REDIS_URL set or not) and the face:

- `ToWorkers` (Redis): a sync becomes a task on the `sync` queue; claimed
  downloads wait in the store for the workers' dispatcher.
- `InProcess` (embedded mode, the CLI): the work runs in this thread, to its end.
- the dashboard's `EmbeddedRunner` (embedded mode, `services/web/runner.py`):
  the same in-process work, in a background thread.

Every delivery gives the claims back itself when it cannot take them:
`WorkQueue.enqueue_downloads` when Redis is unreachable
(`services.worker.dispatch`), `shared.inprocess.download_inline` for what it
did not settle, the runner when a job is already running.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from shared.errors import BrokerUnavailable
from shared.inprocess import Progress, download_inline, sync_here
from shared.planning import Filters
from shared.runs import store_task_id
from shared.runtime import Runtime

REDIS = "redis"
EMBEDDED = "embedded"


class WorkQueue(Protocol):
    """The workers' queue as the faces reach it: `services.worker.dispatch.WorkerQueue`
    (the CLI) or the dashboard's broker, which wraps the same functions."""

    def redis_ping(self) -> bool: ...

    def enqueue_sync(self, account_id: int, run_id: int, full: bool, filters: Filters | None) -> str:
        """Queue a sync task; its task id."""
        ...

    def enqueue_downloads(self, activity_ids: list[int]) -> None:
        """Hand claimed activities to the workers; gives the claims back if Redis is unreachable."""
        ...

    def mirror_schedules(self) -> bool:
        """Write the database's schedules into RedBeat now."""
        ...


@dataclass(frozen=True)
class Handed:
    """What became of the work: queued for the workers, started in the background, or done here."""

    mode: str  # REDIS or EMBEDDED
    run_id: int | None = None
    task_id: str | None = None  # the sync's Celery task (Redis mode)
    activity_ids: list[int] = field(default_factory=list)  # the downloads claimed
    counts: Counter[str] | None = None  # when it ran here to its end: how the downloads ended


class Delivery(Protocol):
    mode: str

    def check(self) -> None:
        """Raise before anything is written when the work cannot be taken now."""
        ...

    def sync(self, account_id: int, run_id: int, full: bool, filters: Filters) -> Handed: ...

    def downloads(self, account_id: int, activity_ids: list[int]) -> Handed: ...


class ToWorkers:
    """Redis mode: hand work to the Celery workers.

    Both faces ask Redis first and, when it does not answer, refuse before
    writing anything: no run is opened for a sync that could not be queued,
    no activity is claimed (docs/DECISIONS.md, 18).
    """

    mode = REDIS

    def __init__(self, runtime: Runtime, queue: WorkQueue) -> None:
        self.runtime = runtime
        self.queue = queue

    def check(self) -> None:
        if not self.queue.redis_ping():
            raise BrokerUnavailable("cannot reach Redis (REDIS_URL): nothing was queued")

    def sync(self, account_id: int, run_id: int, full: bool, filters: Filters) -> Handed:
        task_id = self.queue.enqueue_sync(account_id, run_id, full, filters)
        store_task_id(self.runtime.settings.database_url, run_id, task_id)
        return Handed(REDIS, run_id, task_id)

    def downloads(self, account_id: int, activity_ids: list[int]) -> Handed:
        self.queue.enqueue_downloads(activity_ids)
        return Handed(REDIS, activity_ids=activity_ids)


class InProcess:
    """Embedded mode in this thread: the work is done when the call returns."""

    mode = EMBEDDED

    def __init__(self, runtime: Runtime, progress: Progress | None = None) -> None:
        self.runtime = runtime
        self.progress = progress or Progress()

    def check(self) -> None:
        self.runtime.storage.check_writable()  # fail before the run, not at the first download

    def sync(self, account_id: int, run_id: int, full: bool, filters: Filters) -> Handed:
        counts = sync_here(self.runtime, account_id, run_id, full, filters, self.progress)
        return Handed(EMBEDDED, run_id, counts=counts)

    def downloads(self, account_id: int, activity_ids: list[int]) -> Handed:
        self.progress.listed(len(activity_ids))
        counts = download_inline(self.runtime, activity_ids, self.progress.settled)
        return Handed(EMBEDDED, activity_ids=activity_ids, counts=counts)

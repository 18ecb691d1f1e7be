"""Embedded mode: the dashboard runs a job itself, in one background thread.

Without Redis there is no worker to hand work to. The same in-process work
the CLI does in embedded mode (`shared.inprocess`) runs in a thread of the
web process, one job at a time so two clicks never race each other for
Garmin's rate budget.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.archive import Outcome
from shared.db import create_session
from shared.errors import GarminSyncError
from shared.inprocess import Progress, download_inline, sync_here
from shared.outcomes import describe
from shared.planning import Filters, release
from shared.runtime import Runtime
from shared.usecases.delivery import EMBEDDED, Handed

from .errors import Conflict

log = logging.getLogger(__name__)


@dataclass
class JobStatus:
    kind: str  # "sync" or "downloads"
    account_id: int
    run_id: int | None
    total: int = 0
    done: int = 0
    failed: int = 0
    phase: str = "starting"
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "account_id": self.account_id,
            "run_id": self.run_id,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "phase": self.phase,
            "error": self.error,
            "running": self.finished_at is None,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class EmbeddedRunner:
    """At most one job at a time; the last one's status stays readable.

    The dashboard's delivery in embedded mode (`shared.usecases.delivery`):
    the same in-process work as the CLI's, in a background thread.
    """

    mode = EMBEDDED

    def __init__(self, runtime: Runtime, on_change: Callable[[], None] = lambda: None) -> None:
        self.runtime = runtime
        self._on_change = on_change
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status: JobStatus | None = None

    @property
    def busy(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def status(self) -> dict[str, Any] | None:
        with self._lock:
            return self._status.as_dict() if self._status else None

    def check(self) -> None:
        """Conflict while a job runs: nothing is claimed or opened for a second one."""
        if self.busy:
            current = self.status() or {}
            raise Conflict(
                f"a {current.get('kind', 'job')} is already running in the web process "
                "(embedded mode runs one job at a time); try again when it has finished"
            )

    def sync(self, account_id: int, run_id: int, full: bool, filters: Filters) -> Handed:
        status = JobStatus("sync", account_id, run_id, phase="listing")
        progress = _JobProgress(status, self._on_change)
        self._start(status, lambda: sync_here(self.runtime, account_id, run_id, full, filters, progress))
        return Handed(EMBEDDED, run_id)

    def downloads(self, account_id: int, activity_ids: list[int]) -> Handed:
        status = JobStatus("downloads", account_id, None, total=len(activity_ids), phase="downloading")
        progress = _JobProgress(status, self._on_change)
        try:
            self._start(status, lambda: download_inline(self.runtime, activity_ids, progress.settled))
        except Conflict:  # another job started in between: the claims go back
            with create_session(self.runtime.settings.database_url) as session:
                release(session, activity_ids)
            raise
        return Handed(EMBEDDED, activity_ids=activity_ids)

    def _start(self, status: JobStatus, work: Callable[[], object]) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise Conflict(
                    "a job is already running in the web process "
                    "(embedded mode runs one job at a time); try again when it has finished"
                )
            self._status = status
            self._thread = threading.Thread(
                target=self._guarded, args=(status, work), name=f"garminsync-web-{status.kind}", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """For tests and shutdown."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _guarded(self, status: JobStatus, work: Callable[[], object]) -> None:
        """The job's end in its status; the run itself was closed by the job (`sync_here`)."""
        try:
            work()
            status.phase = "done"
        except Exception as exc:  # a bug must not kill the thread silently
            if not isinstance(exc, GarminSyncError):
                log.exception("embedded job failed")
            status.error = describe(exc)
            status.phase = "error"
        finally:
            status.finished_at = datetime.now(UTC)
            self._on_change()


class _JobProgress(Progress):
    """A job's progress, as the System and Dashboard pages show it."""

    def __init__(self, status: JobStatus, on_change: Callable[[], None]) -> None:
        self.status = status
        self.on_change = on_change

    def listed(self, downloads: int) -> None:
        self.status.total = downloads
        self.status.phase = "downloading"
        self.on_change()

    def settled(self, outcome: Outcome) -> None:
        self.status.done += 1
        if outcome.status == "failed":
            self.status.failed += 1

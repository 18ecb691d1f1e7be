"""Embedded mode: the dashboard runs a job itself, in one background thread.

Without Redis there is no worker to hand work to. The same job code the CLI
uses in embedded mode (`shared.jobs.sync_account` without fan-out, then
`download_inline`) runs in a thread of the web process, one job at a time so
two clicks never race each other for Garmin's rate budget.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import jobs
from shared.archive import Outcome
from shared.db import create_session
from shared.errors import GarminSyncError
from shared.planning import Filters
from shared.runs import fail_run
from shared.runtime import Runtime

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
    """At most one job at a time; the last one's status stays readable."""

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

    def start_sync(self, account_id: int, run_id: int, full: bool, filters: Filters | None = None) -> None:
        status = JobStatus("sync", account_id, run_id, phase="listing")
        self._start(status, lambda: self._sync(status, full, filters or Filters()))

    def start_downloads(self, account_id: int, activity_ids: list[int]) -> None:
        status = JobStatus("downloads", account_id, None, total=len(activity_ids), phase="downloading")
        self._start(status, lambda: self._download(status, activity_ids, None))

    def ensure_idle(self) -> None:
        if self.busy:
            current = self.status() or {}
            raise Conflict(
                f"a {current.get('kind', 'job')} is already running in the web process "
                "(embedded mode runs one job at a time); try again when it has finished"
            )

    def _start(self, status: JobStatus, work: Callable[[], None]) -> None:
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

    def _guarded(self, status: JobStatus, work: Callable[[], None]) -> None:
        try:
            work()
            status.phase = "done"
        except GarminSyncError as exc:
            status.error = str(exc)
            status.phase = "error"
            if status.run_id is not None:
                with create_session(self.runtime.settings.database_url) as session:
                    fail_run(session, status.run_id, str(exc))
        except Exception as exc:  # a bug must not kill the thread silently
            log.exception("embedded job failed")
            status.error = f"unexpected {type(exc).__name__}: {exc}"
            status.phase = "error"
            if status.run_id is not None:
                with create_session(self.runtime.settings.database_url) as session:
                    fail_run(session, status.run_id, status.error)
        finally:
            status.finished_at = datetime.now(UTC)
            self._on_change()

    def _sync(self, status: JobStatus, full: bool, filters: Filters) -> None:
        assert status.run_id is not None
        summary = jobs.sync_account(
            self.runtime, status.account_id, status.run_id, full=full, filters=filters, fan_out=None
        )
        status.total = len(summary.queued)
        status.phase = "downloading"
        self._on_change()
        self._download(status, summary.queued, status.run_id)

    def _download(self, status: JobStatus, activity_ids: list[int], run_id: int | None) -> None:
        from shared.inprocess import download_inline

        def advance(outcome: Outcome) -> None:
            status.done += 1
            if outcome.status == "failed":
                status.failed += 1

        if activity_ids:
            download_inline(self.runtime, activity_ids, advance)

"""Following a sync run to its end, and what its end means."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.errors import GarminSyncError
from shared.models import SyncRun
from shared.outcomes import Kind
from shared.reports import find_run
from shared.runtime import Runtime

POLL_S = 0.5


def follow(
    runtime: Runtime,
    run_id: int,
    on_change: Callable[[SyncRun], None] = lambda _run: None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncRun:
    """Read the run from the store until it is no longer running; the finished run."""
    while True:
        run = find_run(runtime.settings.database_url, run_id)
        if run is None:
            raise GarminSyncError(f"sync run #{run_id} disappeared")
        on_change(run)
        if run.status != "running":
            return run
        sleep(POLL_S)


def failure(run: SyncRun) -> Kind | None:
    """The kind of failure that ended the run; None when it did not fail, or failed before
    runs kept their kind."""
    if run.status != "error" or run.error_kind is None:
        return None
    try:
        return Kind(run.error_kind)
    except ValueError:
        return None

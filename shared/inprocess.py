"""Embedded mode: the jobs run in-process, for machines without Redis.

Same job code as the Celery tasks (`shared.jobs`), waiting for the budget
in-process; retries wait their back-off in a small timer queue, so one
activity that needs a retry does not hold up the others. The CLI runs these
in its own thread, the dashboard in a background thread.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable

from shared import jobs
from shared.archive import Outcome
from shared.db import create_session
from shared.manifest import refresh_manifest
from shared.notify.hooks import flush_quietly
from shared.planning import Filters, release
from shared.runs import fail_run
from shared.runtime import Runtime

MAX_RETRIES = 12  # 429 cool-downs in a row before an activity is left for the next run


class Progress:
    """What in-process work reports as it goes (a progress bar, a job's status); all optional."""

    def listing(self) -> None:
        """The activity list is being read from Garmin."""

    def listed(self, downloads: int) -> None:
        """The list is read; this many downloads follow."""

    def settled(self, outcome: Outcome) -> None:
        """One download ended (downloaded, already there, no file, failed or deferred)."""


def sync_here(
    runtime: Runtime, account_id: int, run_id: int, full: bool, filters: Filters, progress: Progress
) -> Counter[str]:
    """List, claim and download in this thread; any failure (Ctrl-C too) ends the run as error.

    What a killed earlier run left in the archive is removed first.
    """
    try:
        runtime.storage.remove_partials()
        progress.listing()
        summary = jobs.sync_account(runtime, account_id, run_id, full=full, filters=filters)
        progress.listed(len(summary.queued))
        return download_inline(runtime, summary.queued, progress.settled)
    except BaseException as exc:
        fail_run(runtime.settings.database_url, run_id, exc)
        raise
    finally:
        flush_quietly(runtime.settings, runtime.cipher)  # no workers: the notifications go from here


def download_inline(
    runtime: Runtime,
    activity_ids: list[int],
    on_outcome: Callable[[Outcome], None] = lambda _outcome: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Counter[str]:
    """Archive each activity, newest first; returns how many ended in each status."""
    counts: Counter[str] = Counter()
    queue: list[tuple[float, int, int, int]] = [
        (0.0, order, activity_id, 0) for order, activity_id in enumerate(activity_ids)
    ]
    heapq.heapify(queue)
    unsettled = set(activity_ids)
    try:
        while queue:
            not_before, order, activity_id, retries = heapq.heappop(queue)
            wait = not_before - time.monotonic()
            if wait > 0:
                sleep(wait)
            outcome = jobs.archive(runtime, activity_id)
            if outcome.status == "retry" and retries < MAX_RETRIES:
                delay = outcome.retry_after or 0.0
                heapq.heappush(queue, (time.monotonic() + delay, order, activity_id, retries + 1))
                continue
            if outcome.status == "retry":
                counts["deferred"] += 1
            else:
                counts[outcome.status] += 1
                unsettled.discard(activity_id)
            on_outcome(outcome)
    finally:
        # Interrupted or given up: hand claims back so the next run takes them.
        if unsettled:
            with create_session(runtime.settings.database_url) as session:
                release(session, sorted(unsettled))
        flush_quietly(runtime.settings, runtime.cipher)
    refresh_manifest(runtime.settings.database_url, runtime.storage)
    return counts

"""The two jobs, as plain functions: sync an account, archive an activity.

Celery tasks (`services/worker/tasks.py`) and the embedded mode (the CLI
without Redis) both call these, so the logic exists once. A sync takes a
`fan_out` callback: the worker enqueues one task per claimed activity, the
embedded runner downloads them in-process.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from shared.accounts import find_account
from shared.archive import Outcome, archive_activity
from shared.db import create_session
from shared.errors import AuthRequired, GarminSyncError
from shared.listing import refresh_listing
from shared.models import Account, Activity
from shared.planning import Filters, claim_missing, release
from shared.runs import fail_run, record_listing, start_run
from shared.runtime import Runtime

FanOut = Callable[[list[int], int], None]


@dataclass(frozen=True)
class SyncSummary:
    run_id: int
    list_requests: int
    found: int
    new: int
    deleted: int
    queued: list[int]


def backoff_delay(attempt: int, base_s: float, cap_s: float = 900.0) -> float:
    """Exponential back-off with 50-100 % jitter, so retries of many tasks spread out."""
    return min(cap_s, base_s * 2 ** max(0, attempt)) * random.uniform(0.5, 1.0)


def open_run(runtime: Runtime, account_name: str, trigger: str, full: bool) -> tuple[int, int]:
    """Create the sync run up front so callers can follow it: (account id, run id)."""
    with create_session(runtime.settings.database_url) as session:
        account = find_account(session, account_name)
        run = start_run(session, account.id, trigger, full)
        return account.id, run.id


def open_run_for(runtime: Runtime, account_id: int, trigger: str, full: bool) -> int:
    with create_session(runtime.settings.database_url) as session:
        return start_run(session, account_id, trigger, full).id


def sync_account(
    runtime: Runtime,
    account_id: int,
    run_id: int,
    *,
    full: bool = False,
    filters: Filters | None = None,
    fan_out: FanOut | None = None,
    max_wait: float | None = None,
) -> SyncSummary:
    """Refresh the list, claim what is missing, hand it to `fan_out`."""
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise GarminSyncError(f"unknown account id {account_id}")
        session.expunge(account)
    gateway = runtime.gateway(account, max_wait=max_wait)
    try:
        listing = refresh_listing(settings.database_url, gateway, account_id, settings.page_size, full)
    except AuthRequired as exc:
        with create_session(settings.database_url) as session:
            fail_run(session, run_id, str(exc))
        raise
    with create_session(settings.database_url) as session:
        claimed = claim_missing(session, account_id, filters or Filters(), settings.requeue_after_s)
        record_listing(
            session,
            run_id,
            requests=listing.requests,
            found=listing.found,
            new=listing.new,
            deleted=listing.deleted,
            queued=len(claimed),
        )
    if claimed and fan_out is not None:
        try:
            fan_out(claimed, run_id)
        except BaseException:
            with create_session(settings.database_url) as session:
                release(session, claimed)
            raise
    return SyncSummary(run_id, listing.requests, listing.found, listing.new, listing.deleted, claimed)


def archive(
    runtime: Runtime, activity_id: int, run_id: int | None = None, max_wait: float | None = None
) -> Outcome:
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise GarminSyncError(f"unknown activity id {activity_id}")
        account = activity.account
        session.expunge(account)
    return archive_activity(
        settings.database_url,
        runtime.storage,
        runtime.gateway(account, max_wait=max_wait),
        activity_id,
        max_attempts=settings.max_attempts,
        run_id=run_id,
    )

"""The two jobs, as plain functions: sync an account, archive an activity.

Celery tasks (`services/worker/tasks.py`) and the embedded mode
(`shared/inprocess.py`) both call these, so the logic exists once. A sync
claims what is missing for its run and returns the claims; with workers the
claims are the hand-off (the dispatcher publishes them at the pace of the
budget), in embedded mode they are downloaded in-process next.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.archive import Outcome, archive_activity
from shared.backlog import release_account
from shared.db import create_session
from shared.errors import AuthRequired, GarminSyncError
from shared.extras import Wants
from shared.listing import refresh_listing
from shared.models import Account, Activity
from shared.notify.expiry import warn_if_due
from shared.pacing import listing_flag
from shared.planning import Filters, claim_missing
from shared.runs import fail_account_runs, record_listing
from shared.runtime import Runtime
from shared.sidecar import write_missing_sidecars

# Renewed before each list page, so it outlives the slowest page (one budget window) and
# lapses soon after a sync that died mid-listing; cleared when the listing ends.
LISTING_FLAG_TTL_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class SyncSummary:
    run_id: int
    list_requests: int
    found: int
    new: int
    deleted: int
    queued: list[int]


def listing_wait_s(runtime: Runtime) -> float:
    """How long a list request may wait for a slot in a worker: one window of the budget.

    Downloads already published may hold the account's budget for that long;
    a sync that waits once costs a worker a minute instead of a retry.
    """
    return runtime.limiter.window_ms / 1000 + 1.0


def sync_account(
    runtime: Runtime,
    account_id: int,
    run_id: int,
    *,
    full: bool = False,
    filters: Filters | None = None,
    max_wait: float | None = None,
) -> SyncSummary:
    """Refresh the list and claim what is missing for the run."""
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise GarminSyncError(f"unknown account id {account_id}")
        session.expunge(account)
    gateway = runtime.gateway(account, max_wait=max_wait)
    # While the list is read, the dispatcher leaves this account's budget to it.
    flag = listing_flag(account_id)
    try:
        listing = refresh_listing(
            settings.database_url,
            gateway,
            account_id,
            settings.page_size,
            full,
            on_page=lambda: runtime.coordinator.set_flag(flag, LISTING_FLAG_TTL_MS),
        )
    except AuthRequired as exc:
        account_needs_login(runtime, account_id, str(exc))
        raise
    finally:
        runtime.coordinator.clear_flag(flag)
    with create_session(settings.database_url) as session:
        claimed = claim_missing(
            session,
            account_id,
            filters or Filters(),
            settings.requeue_after_s,
            run_id=run_id,
            wants=Wants.of(settings),
        )
        record_listing(
            session,
            run_id,
            requests=listing.requests,
            found=listing.found,
            new=listing.new,
            deleted=listing.deleted,
            updated=listing.updated,
            changed=listing.changed,
            queued=len(claimed),
        )
    # After the listing, which refreshed the tokens if they were due: is a new login near?
    warn_if_due(settings.database_url, account_id, settings.token_warn_days)
    write_missing_sidecars(settings.database_url, runtime.storage, account_id)
    return SyncSummary(run_id, listing.requests, listing.found, listing.new, listing.deleted, claimed)


def account_needs_login(runtime: Runtime, account_id: int, message: str) -> None:
    """Nothing of the account can go on: its backlog goes back to the next sync, its runs end."""
    with create_session(runtime.settings.database_url) as session:
        release_account(session, account_id)
        fail_account_runs(session, account_id, message)


def archive(runtime: Runtime, activity_id: int, max_wait: float | None = None) -> Outcome:
    """Archive one activity; `max_wait` bounds the wait for the budget (None: wait in-process)."""
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise GarminSyncError(f"unknown activity id {activity_id}")
        account = activity.account
        session.expunge(account)
    try:
        return archive_activity(
            settings.database_url,
            runtime.storage,
            runtime.gateway(account, max_wait=max_wait),
            activity_id,
            max_attempts=settings.max_attempts,
            retry_base_s=settings.retry_base_s,
            wants=Wants.of(settings),
        )
    except AuthRequired as exc:
        account_needs_login(runtime, account.id, str(exc))
        raise

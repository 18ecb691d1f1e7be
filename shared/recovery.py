"""After Redis lost its data: put back what the store knows before any request goes out.

Redis holds the budgets' logs and the published download tasks. When it comes
back empty (flushed, or restarted without persistence) the epoch marker is
gone, and every rate check answers LOST instead of a slot. The first process
that meets that — a worker's dispatcher, or any request — takes a lock and
recovers: downloads that were published go back to the backlog, and if work
was under way (a sync running, a download running or ended within the last
window) every budget counts as spent for one window (what was spent is gone
with Redis). Only then is the epoch set again and requests go on.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select

from shared.backlog import requeue_published
from shared.coordination import Coordinator
from shared.db import create_session
from shared.models import Account, Activity, DownloadState, SyncRun
from shared.ratelimit import RateLimiter, account_key

log = logging.getLogger(__name__)

RECOVERY_LOCK = "recover-lost-redis"


def recover_lost_state(database_url: str, limiter: RateLimiter, coordinator: Coordinator) -> bool:
    """Recover once (one process at a time); True if this call did it."""
    with coordinator.lock(RECOVERY_LOCK, timeout_s=60, wait_s=60) as got:
        if not got or coordinator.has_epoch():
            return False
        # A burst that ended just before Redis lost its data spent the window too.
        longest = max(w.window_ms for w in limiter.windows(account_key(0)))
        recent = datetime.now(UTC) - timedelta(milliseconds=longest)
        with create_session(database_url) as session:
            lost = requeue_published(session)
            busy = bool(
                lost
                or session.scalar(
                    select(Activity.id)
                    .where(
                        or_(
                            Activity.state == DownloadState.DOWNLOADING,
                            Activity.downloaded_at >= recent,
                        )
                    )
                    .limit(1)
                )
                or session.scalar(select(SyncRun.id).where(SyncRun.status == "running").limit(1))
            )
            accounts = list(session.scalars(select(Account.id))) if busy else []
        if busy:
            limiter.assume_spent([account_key(account_id) for account_id in accounts])
        coordinator.set_epoch()
    if busy:
        log.warning(
            "Redis lost its data mid-work: %d downloads published again; every budget counts as "
            "spent for one window",
            lost,
        )
    return True

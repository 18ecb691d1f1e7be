"""Pacing: downloads are published at the pace each account's budget allows.

The backlog lives in the database (`queued` activities whose task is not
published yet). One dispatcher at a time (a lease in Redis; every worker runs
one, the others stand by) publishes, each tick, only as many download tasks
per account as that account's budget admits within the next moment, minus
those already published and not yet started. A task therefore finds its slot
free, or nearly: waiting for the budget costs no retries, no task holds a
countdown, and Redis holds about one window's worth of tasks per account.
Accounts are paced independently, so a big backlog of one never delays
another; an optional global budget is shared out in turn.

The dispatcher also recovers what a crash leaves behind: tasks lost with an
emptied Redis (the epoch marker is gone), claims whose task never ran (their
lease ran out), and runs that can no longer progress. docs/DECISIONS.md has
the reasoning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy.orm import Session

from shared.backlog import (
    backlog_counts,
    busy,
    expire_leases,
    hand_back,
    in_flight_counts,
    take_due,
    unpublish,
)
from shared.coordination import Coordinator
from shared.db import create_session
from shared.extras import Wants, request_costs
from shared.manifest import refresh_manifest
from shared.ratelimit import RateLimiter, account_key
from shared.recovery import recover_lost_state
from shared.runs import close_lost_runs, close_settled_runs
from shared.storage import Storage
from shared.task_history import busy_workers, mark_lost

log = logging.getLogger(__name__)

TICK_S = 0.5
MAX_LOOKAHEAD_S = 1.0
LEADER_LEASE_MS = 5_000
HOUSEKEEPING_EVERY_S = 10.0
LOST_SYNC_AFTER_S = 3600  # a run still listing after this lost its sync task
LOG_SUMMARY_EVERY_S = 60.0
ALIVE_TTL_MS = 15_000  # a worker that has not said so for this long is dead
MAX_PER_TICK = 1000
MANIFEST_EVERY_S = 60.0  # while downloads go on, the manifest is rewritten at most this often

RELAY_EVERY_S = 1.0  # pending notifications go to their task within about a second
Publish = Callable[[list[int]], None]


def listing_flag(account_id: int) -> str:
    return f"listing:{account_key(account_id)}"


def alive_flag(worker: str) -> str:
    return f"alive:{worker}"


def share_out(wanted: dict[int, int], capacity: int, start: int) -> tuple[dict[int, int], int]:
    """Deal `capacity` slots one at a time over the accounts, beginning after `start`.

    Returns the grants and the account dealt the last slot: the next deal begins after it.
    """
    order = sorted(wanted)
    order = [a for a in order if a > start] + [a for a in order if a <= start]
    granted = dict.fromkeys(order, 0)
    last = start
    while capacity > 0:
        progressed = False
        for account_id in order:
            if capacity and granted[account_id] < wanted[account_id]:
                granted[account_id] += 1
                capacity -= 1
                last = account_id
                progressed = True
        if not progressed:
            break
    return {a: n for a, n in granted.items() if n}, last


@dataclass
class Dispatcher:
    """One tick publishes what the budgets admit; `tick()` is safe to call from any worker."""

    database_url: str
    limiter: RateLimiter
    coordinator: Coordinator
    publish: Publish
    worker: str
    downloading_lease_s: float
    max_wait_s: float
    clock: Callable[[], float] = time.monotonic
    # Queues the recorded notifications (`shared.notify.delivery.relay`); None: none are sent.
    relay: Callable[[], int] | None = None
    _last_relay: float = field(default=-1e9, init=False)
    # Extra formats and details make a download cost more than one request (docs/DECISIONS.md, 31).
    wants: Wants = field(default_factory=Wants)
    # Where the manifest is kept up to date (None: not by this dispatcher).
    storage: Storage | None = None
    _last_housekeeping: float = field(default=-1e9, init=False)
    _last_summary: float = field(default=-1e9, init=False)
    _last_manifest: float = field(default=-1e9, init=False)
    _leading: bool = field(default=False, init=False)
    _rotation: int = field(default=0, init=False)
    _published: int = field(default=0, init=False)
    _owner: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._owner = f"{self.worker}:{uuid4().hex[:8]}"  # a restarted worker is a new owner

    @property
    def lookahead_s(self) -> float:
        """Publish for slots freeing this soon, so the task is there when its slot frees.

        Well inside what a task may wait (GARMINSYNC_MAX_WAIT), so it never gives up on a slot
        it was published for.
        """
        return min(MAX_LOOKAHEAD_S, self.max_wait_s / 2)

    @property
    def tick_s(self) -> float:
        """No slower than the lookahead, so no slot frees between two looks unseen."""
        return max(0.05, min(TICK_S, self.lookahead_s)) if self.lookahead_s else TICK_S

    def tick(self) -> int:
        """Publish due downloads if this dispatcher leads; the number published."""
        self.coordinator.set_flag(alive_flag(self.worker), ALIVE_TTL_MS)
        leading = self.coordinator.hold_lease("dispatcher", self._owner, LEADER_LEASE_MS)
        if leading != self._leading:
            self._leading = leading
            log.info("dispatcher of %s: %s", self.worker, "leading" if leading else "standing by")
        if not leading:
            return 0
        now = datetime.now(UTC)
        if not self.coordinator.has_epoch():
            recover_lost_state(self.database_url, self.limiter, self.coordinator)
        if self.clock() - self._last_housekeeping >= HOUSEKEEPING_EVERY_S:
            self._last_housekeeping = self.clock()
            self.housekeeping(now)
        if self.relay is not None and self.clock() - self._last_relay >= RELAY_EVERY_S:
            self._last_relay = self.clock()
            try:
                self.relay()
            except Exception as exc:  # notifications never hold up the downloads
                log.warning(
                    "notifications not queued: %s", str(exc).splitlines()[0][:200] if str(exc) else exc
                )
        published = self._dispatch(now)
        self._published += published
        if self._published and self.clock() - self._last_summary >= LOG_SUMMARY_EVERY_S:
            self._last_summary = self.clock()
            log.info("dispatcher: published %d downloads in the last minute", self._published)
            self._published = 0
        return published

    def housekeeping(self, now: datetime) -> None:
        self.recover_dead_workers(now)
        with create_session(self.database_url) as session:
            expired = expire_leases(session, now, self.downloading_lease_s)
            closed = close_settled_runs(session) + close_lost_runs(session, LOST_SYNC_AFTER_S)
        self.keep_manifest()
        if expired:
            log.warning("%d downloads whose task was lost are published again", expired)
        if closed:
            log.info("closed %d sync run(s) with nothing left to do", closed)

    def keep_manifest(self) -> None:
        """Rewrite the manifest once the work is done, or once a minute while it goes on
        (`refresh_manifest` writes only when files were recorded since)."""
        if self.storage is None:
            return
        if self.clock() - self._last_manifest < MANIFEST_EVERY_S:
            with create_session(self.database_url) as session:
                if busy(session):
                    return
        self._last_manifest = self.clock()
        refresh_manifest(self.database_url, self.storage)

    def recover_dead_workers(self, now: datetime) -> None:
        """Downloads a dead worker was running go back to the backlog at once, not after a lease."""
        grace = now - timedelta(milliseconds=ALIVE_TTL_MS)
        for worker in busy_workers(self.database_url, started_before=grace):
            if self.coordinator.has_flag(alive_flag(worker)):
                continue
            lost = mark_lost(self.database_url, worker=worker)
            with create_session(self.database_url) as session:
                handed = hand_back(session, lost)
            log.warning("worker %s is gone: %d of its downloads go back to the backlog", worker, handed)

    @property
    def max_cost(self) -> int:
        """The most requests one download makes: the original, each extra format, the details;
        never more than the budget holds, or it could never be published."""
        return min(1 + len(self.wants.formats) + self.wants.details, self.limiter.rate.amount)

    def costs(self, session: Session, activity_ids: list[int]) -> dict[int, int]:
        return {
            activity_id: min(cost, self.max_cost)
            for activity_id, cost in request_costs(session, activity_ids, self.wants).items()
        }

    def grants(self, backlog: dict[int, int], in_flight: dict[int, int]) -> dict[int, int]:
        """How many requests' worth of downloads each account may publish now (with no extras
        wanted, a download is one request: the number of downloads)."""
        wanted: dict[int, int] = {}
        for account_id, waiting in backlog.items():
            if self.coordinator.has_flag(listing_flag(account_id)):
                continue  # its sync is reading the list: that takes the budget first
            free = self.limiter.free_slots(account_key(account_id), self.lookahead_s)
            room = min(waiting * self.max_cost, free - in_flight.get(account_id, 0), MAX_PER_TICK)
            if room > 0:
                wanted[account_id] = room
        shared = self.limiter.global_free_slots(self.lookahead_s)
        if shared is None or not wanted:
            return wanted
        capacity = shared - sum(in_flight.values())
        granted, self._rotation = share_out(wanted, max(0, capacity), self._rotation)
        return granted

    def _dispatch(self, now: datetime) -> int:
        with create_session(self.database_url) as session:
            backlog = backlog_counts(session, now)
            if not backlog:
                return 0
            cost = self.costs if self.wants.any else None
            in_flight = in_flight_counts(session, cost)
        grants = self.grants(backlog, in_flight)
        total = 0
        for account_id, count in grants.items():
            with create_session(self.database_url) as session:
                ids = take_due(session, account_id, count, now, cost)
            if not ids:
                continue
            try:
                self.publish(ids)
            except Exception:
                with create_session(self.database_url) as session:
                    unpublish(session, ids)
                raise
            total += len(ids)
        return total

"""Schedules: the database is the source of truth, RedBeat the mirror beat runs from.

`mirror_schedules()` writes every schedule into RedBeat (the CLI and the
dashboard call it after a change). `GarminSyncScheduler` is RedBeat's scheduler
that also restores the mirror whenever an entry is missing (Redis emptied or
restarted), survives Redis outages, and re-takes its lock after one; a second
beat blocks on RedBeat's lock until the first goes away.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from celery import Celery
from celery.schedules import crontab
from redbeat import RedBeatScheduler, RedBeatSchedulerEntry
from redbeat.schedulers import ensure_conf, get_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.worker.names import SYNC_TASK
from shared.config import Settings
from shared.db import create_session
from shared.models import ScheduleKind
from shared.runtime import get_runtime
from shared.schedules import Planned, all_schedules, cron_problem, planned_schedules

log = logging.getLogger(__name__)

CHECK_EVERY_S = 5.0
SWEEP_EVERY_S = 600.0


def entry_name(account_id: int, kind: str = ScheduleKind.SYNC) -> str:
    """`sync-account-1`, `reconcile-account-1`: each kind its own RedBeat entry."""
    return f"{kind}-account-{account_id}"


def cron_schedule(expression: str) -> crontab:
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


def _entry(app: Celery, planned: Planned) -> RedBeatSchedulerEntry | None:
    """The RedBeat entry, or None (reported) for a cron that cannot run.

    A cron saved before crons were checked must not stop every other account's schedule.
    A reconcile is a sync with `full`: it walks the whole list.
    """
    try:
        problem = cron_problem(planned.cron)
        if problem is None:
            return RedBeatSchedulerEntry(
                entry_name(planned.account_id, planned.kind),
                SYNC_TASK,
                cron_schedule(planned.cron),
                kwargs={
                    "account_id": planned.account_id,
                    "trigger": "schedule",
                    "full": planned.kind == ScheduleKind.RECONCILE,
                },
                app=app,
            )
    except ValueError as exc:
        problem = str(exc)
    log.error("%s schedule of account %s skipped: %s", planned.kind, planned.account_id, problem)
    return None


def _db_schedules(settings: Settings | None = None) -> tuple[set[int], list[Planned]]:
    """(every account with a schedule row, what beat runs)."""
    settings = settings or get_runtime().settings
    with create_session(settings.database_url) as session:
        rows = all_schedules(session)
        return {row.account_id for row in rows}, planned_schedules(rows, settings.reconcile_cron)


def mirror_schedules(app: Celery | None = None, settings: Settings | None = None) -> bool:
    """Write the database's schedules into RedBeat; False in embedded mode (no beat)."""
    settings = settings or get_runtime().settings
    if settings.embedded:
        return False
    if app is None:
        from services.worker.celery_app import app as default_app

        app = default_app
    ensure_conf(app)
    accounts, planned = _db_schedules(settings)
    wanted = {(p.account_id, p.kind): p for p in planned}
    for account_id in accounts:
        for kind in ScheduleKind:
            key = RedBeatSchedulerEntry.generate_key(app, entry_name(account_id, kind))
            plan = wanted.get((account_id, kind))
            entry = _entry(app, plan) if plan is not None else None
            if entry is None:
                with contextlib.suppress(KeyError):
                    RedBeatSchedulerEntry.from_key(key, app=app).delete()
                continue
            with contextlib.suppress(KeyError):
                entry.last_run_at = RedBeatSchedulerEntry.from_key(key, app=app).last_run_at
            entry.save()
    return True


def missing_entries(app: Celery) -> int:
    """How many planned schedules have no RedBeat entry."""
    ensure_conf(app)
    client = get_redis(app)
    missing = 0
    for plan in _db_schedules()[1]:
        if cron_problem(plan.cron) is None:
            key = RedBeatSchedulerEntry.generate_key(app, entry_name(plan.account_id, plan.kind))
            missing += 0 if client.exists(key) else 1
    return missing


def sweep_task_history() -> None:
    """Runs still `started` past the hard time limit died with their worker; old history goes."""
    from services.worker.celery_app import TASK_HARD_LIMIT_S
    from services.worker.signals import mark_lost, trim_history

    lost = len(mark_lost(older_than_s=TASK_HARD_LIMIT_S * 2))
    trimmed = trim_history()
    if lost or trimmed:
        log.info("task history: %d marked lost, %d trimmed", lost, trimmed)


class GarminSyncScheduler(RedBeatScheduler):
    """RedBeat, plus restoring schedules from the database and riding out Redis outages."""

    _last_check = 0.0
    _last_sweep = 0.0

    def setup_schedule(self) -> None:
        super().setup_schedule()
        mirror_schedules(self.app)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            now = time.monotonic()
            if now - self._last_check >= CHECK_EVERY_S:
                self._last_check = now
                if missing_entries(self.app):
                    log.warning("schedules missing from Redis (emptied?): restoring from the database")
                    mirror_schedules(self.app)
            if now - self._last_sweep >= SWEEP_EVERY_S:
                self._last_sweep = now
                sweep_task_history()
            return float(super().tick(*args, **kwargs))
        except LockError:
            log.warning("beat lock lost (Redis restarted?): waiting to take it again")
            if self.lock is not None:
                self.lock.acquire()
            return 0.0
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("Redis unreachable (%s); beat retries in %ss", exc, self.max_interval)
            return float(self.max_interval)

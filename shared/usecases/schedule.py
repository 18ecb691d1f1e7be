"""The schedules (sync, reconcile): show them, change them, and tell beat at once.

The `schedules` table is the source of truth; RedBeat (what beat runs from)
is a mirror, written after each change. A mirror that cannot be written now
is no error: beat restores it from the database when Redis is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from shared.db import create_session
from shared.errors import UsageError
from shared.models import ScheduleKind
from shared.runtime import Runtime
from shared.schedules import (
    DEFAULT_CRON,
    PRESETS,
    ScheduleView,
    get_schedule,
    reconcile_view,
    set_cron,
    set_enabled,
)
from shared.usecases.delivery import WorkQueue

log = logging.getLogger(__name__)


class Mirror(StrEnum):
    ACTIVE = "active"  # written into RedBeat: a running beat has it
    NO_BEAT = "no_beat"  # embedded mode: schedules need Redis and beat
    LATER = "later"  # Redis did not answer: beat restores it from the database


@dataclass(frozen=True)
class ScheduleChanged:
    schedule: ScheduleView
    mirror: Mirror


def show(runtime: Runtime, account_id: int, kind: str = ScheduleKind.SYNC) -> ScheduleView:
    """The schedule of that kind as beat runs it (a reconcile without its own cron runs on
    GARMINSYNC_RECONCILE_CRON while the sync schedule is enabled)."""
    with create_session(runtime.settings.database_url) as session:
        if kind == ScheduleKind.RECONCILE:
            return reconcile_view(session, account_id, runtime.settings.reconcile_cron)
        return ScheduleView.of(get_schedule(session, account_id, kind), account_id, kind)


def change(
    runtime: Runtime,
    queue: WorkQueue | None,
    account_id: int,
    *,
    cron: str | None = None,
    enabled: bool | None = None,
    kind: str = ScheduleKind.SYNC,
) -> ScheduleChanged:
    """Set the cron (a new schedule starts enabled, an existing one keeps its state) and/or
    turn it on or off; `queue` is None in embedded mode."""
    if cron is None and enabled is None:
        raise UsageError("give a cron expression, enabled, or both")
    with create_session(runtime.settings.database_url) as session:
        if cron is not None:
            set_cron(session, account_id, cron, kind)
        if enabled is not None:
            default = DEFAULT_CRON
            if kind == ScheduleKind.RECONCILE:
                default = runtime.settings.reconcile_cron or PRESETS["weekly"]
            set_enabled(session, account_id, enabled, kind, default)
    return ScheduleChanged(show(runtime, account_id, kind), _mirror(queue))


def _mirror(queue: WorkQueue | None) -> Mirror:
    if queue is None:
        return Mirror.NO_BEAT
    try:
        queue.mirror_schedules()
    except Exception as exc:  # Redis down, or no beat configuration yet
        log.warning("could not mirror schedules into RedBeat: %s", exc)
        return Mirror.LATER
    return Mirror.ACTIVE

"""Schedules: a cron per account and kind, validated and explained.

The `schedules` table is the source of truth; beat mirrors it into RedBeat
(`services/worker/beat.py`). Five-field cron in UTC. Two kinds: `sync` (the
incremental sync, one request when nothing changed) and `reconcile` (a full
walk of Garmin's list that notices renames, changed files and deletions). An
account's reconcile runs while its sync schedule is enabled: on its own cron
when it has one, else on GARMINSYNC_RECONCILE_CRON (weekly by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cron_descriptor import get_description
from croniter import CroniterBadDateError, croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import UsageError
from shared.models import Schedule, ScheduleKind

DEFAULT_CRON = "0 */6 * * *"
PRESETS = {
    "hourly": "0 * * * *",
    "every 6 hours": "0 */6 * * *",
    "daily": "30 3 * * *",
    "weekly": "30 3 * * 1",
}


FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# What beat's cron (Celery's crontab) understands: numbers, names of months and
# weekdays, `*`, lists, ranges and steps. croniter also takes L, W, # and ?, and
# 7 for Sunday, which Celery refuses: a schedule saved with them would stop beat.
_PLAIN = re.compile(r"[0-9*,/-]+")
_NAMED = re.compile(r"[0-9a-z*,/-]+")
_NUMBER_NOT_STEP = re.compile(r"(?<![/0-9])[0-9]+")


def validate_cron(expression: str) -> str:
    """The normalised cron that beat can run and that runs at least once; UsageError with
    the reason otherwise. The CLI, the dashboard and beat all check with this."""
    text = " ".join(expression.split())
    if text.lower() in PRESETS:
        return PRESETS[text.lower()]
    fields = text.split(" ")
    if len(fields) != 5:
        raise UsageError(
            f"{expression!r} is not a cron expression: use five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 */6 * * *'"
        )
    for position, (name, value) in enumerate(zip(FIELDS, fields, strict=True)):
        allowed = _NAMED if position >= 3 else _PLAIN
        if not allowed.fullmatch(value.lower()):
            raise UsageError(
                f"{expression!r} is not a valid cron expression: the {name} field {value!r} may only "
                "use numbers, names, '*', ',', '-' and '/'"
            )
    if not croniter.is_valid(text):
        raise UsageError(f"{expression!r} is not a valid cron expression")
    _, _, day, month, weekday = fields
    if any(int(number) > 6 for number in _NUMBER_NOT_STEP.findall(weekday)):
        raise UsageError(f"{expression!r} is not a valid cron expression: day-of-week is 0-6 (0 is Sunday)")
    if day != "*" and weekday != "*":
        raise UsageError(
            f"{expression!r} restricts both day-of-month and day-of-week, which cron tools read "
            "differently (either or both): restrict only one of them"
        )
    if not _ever_runs(f"0 0 {day} {month} *") or not _ever_runs(text):
        raise UsageError(f"{expression!r} never runs: day-of-month {day} never occurs in month {month}")
    return text


def _ever_runs(text: str) -> bool:
    try:
        croniter(text, datetime.now(UTC)).get_next(datetime)
    except CroniterBadDateError:
        return False
    return True


def cron_problem(expression: str) -> str | None:
    """Why a stored cron cannot run (saved before it was checked), or None when it can."""
    try:
        validate_cron(expression)
    except UsageError as exc:
        return str(exc)
    return None


def describe(expression: str) -> str:
    try:
        return str(get_description(expression)) + " (UTC)"
    except Exception:  # cron-descriptor rejects a few forms croniter accepts
        return expression


def next_runs(expression: str, count: int = 5, after: datetime | None = None) -> list[datetime]:
    base = after or datetime.now(UTC)
    itr = croniter(expression, base)
    return [itr.get_next(datetime).astimezone(UTC) for _ in range(count)]


@dataclass(frozen=True)
class ScheduleView:
    account_id: int
    cron: str
    enabled: bool
    description: str
    next_runs: list[datetime]
    error: str | None = None
    kind: str = ScheduleKind.SYNC

    @classmethod
    def of(
        cls,
        schedule: Schedule | None,
        account_id: int,
        kind: str = ScheduleKind.SYNC,
        planned: Planned | None = None,
        default_cron: str = DEFAULT_CRON,
    ) -> ScheduleView:
        """What the schedule means; a stored cron that cannot run shows why instead of failing.

        `planned` is what beat runs for it (a reconcile without a row of its own runs on the
        default cron while the sync schedule is on)."""
        cron = planned.cron if planned else schedule.cron if schedule else default_cron
        enabled = (
            planned is not None if kind == ScheduleKind.RECONCILE else bool(schedule and schedule.enabled)
        )
        problem = cron_problem(cron)
        if problem is not None:
            return cls(account_id, cron, enabled, "never runs (set a new cron)", [], problem, kind)
        return cls(account_id, cron, enabled, describe(cron), next_runs(cron) if enabled else [], None, kind)

    def as_dict(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "kind": self.kind,
            "cron": self.cron,
            "enabled": self.enabled,
            "description": self.description,
            "next_runs": [moment.isoformat() for moment in self.next_runs] if self.enabled else [],
            "error": self.error,
        }


@dataclass(frozen=True)
class Planned:
    """A schedule beat runs: an account, a kind, a cron."""

    account_id: int
    kind: str
    cron: str


def get_schedule(session: Session, account_id: int, kind: str = ScheduleKind.SYNC) -> Schedule | None:
    return session.scalars(
        select(Schedule).where(Schedule.account_id == account_id, Schedule.kind == kind)
    ).first()


def set_cron(session: Session, account_id: int, expression: str, kind: str = ScheduleKind.SYNC) -> Schedule:
    """A first schedule starts enabled; an existing one keeps whether it is on or off."""
    cron = validate_cron(expression)
    schedule = _schedule_or_new(session, account_id, kind, cron=cron, enabled=True)
    schedule.cron = cron
    session.flush()
    return schedule


def set_enabled(
    session: Session,
    account_id: int,
    enabled: bool,
    kind: str = ScheduleKind.SYNC,
    default_cron: str = DEFAULT_CRON,
) -> Schedule:
    """A first schedule gets `default_cron` (every 6 hours for a sync)."""
    schedule = _schedule_or_new(session, account_id, kind, cron=default_cron, enabled=enabled)
    schedule.enabled = enabled
    session.flush()
    return schedule


def _schedule_or_new(session: Session, account_id: int, kind: str, *, cron: str, enabled: bool) -> Schedule:
    schedule = get_schedule(session, account_id, kind)
    if schedule is None:
        schedule = Schedule(account_id=account_id, kind=kind, cron=cron, enabled=enabled)
        session.add(schedule)
    return schedule


def all_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.account_id, Schedule.kind)))


def reconcile_view(session: Session, account_id: int, default_reconcile: str | None) -> ScheduleView:
    """The reconcile as beat runs it: its own cron, or the default while the sync schedule is on.
    A reconcile with neither shows the cron it would get (weekly when the default is off)."""
    planned = planned_schedules(all_schedules(session), default_reconcile)
    plan = next((p for p in planned if (p.account_id, p.kind) == (account_id, ScheduleKind.RECONCILE)), None)
    schedule = get_schedule(session, account_id, ScheduleKind.RECONCILE)
    return ScheduleView.of(
        schedule, account_id, ScheduleKind.RECONCILE, plan, default_reconcile or PRESETS["weekly"]
    )


def planned_schedules(schedules: list[Schedule], default_reconcile: str | None) -> list[Planned]:
    """What beat runs: each enabled sync schedule and, with it, its account's reconcile (its own
    cron, or `default_reconcile` when it has none; none when turned off or the default is off)."""
    rows = {(schedule.account_id, schedule.kind): schedule for schedule in schedules}
    planned: list[Planned] = []
    for (account_id, kind), schedule in rows.items():
        if kind != ScheduleKind.SYNC or not schedule.enabled:
            continue
        planned.append(Planned(account_id, kind, schedule.cron))
        reconcile = rows.get((account_id, ScheduleKind.RECONCILE))
        cron = default_reconcile if reconcile is None else reconcile.cron if reconcile.enabled else None
        if cron is not None:
            planned.append(Planned(account_id, ScheduleKind.RECONCILE, cron))
    return planned

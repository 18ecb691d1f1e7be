"""Sync schedules: cron per account, validated and explained.

The `schedules` table is the source of truth; beat mirrors it into RedBeat
(`services/worker/beat.py`). Five-field cron in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cron_descriptor import get_description
from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.errors import UsageError
from shared.models import Schedule

DEFAULT_CRON = "0 */6 * * *"
PRESETS = {
    "hourly": "0 * * * *",
    "every 6 hours": "0 */6 * * *",
    "daily": "30 3 * * *",
    "weekly": "30 3 * * 1",
}


def validate_cron(expression: str) -> str:
    """Normalise whitespace and check five fields; UsageError with the reason otherwise."""
    text = " ".join(expression.split())
    if text.lower() in PRESETS:
        return PRESETS[text.lower()]
    if len(text.split(" ")) != 5:
        raise UsageError(
            f"{expression!r} is not a cron expression: use five fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 */6 * * *'"
        )
    if not croniter.is_valid(text):
        raise UsageError(f"{expression!r} is not a valid cron expression")
    return text


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

    def as_dict(self) -> dict[str, object]:
        return {
            "account_id": self.account_id,
            "cron": self.cron,
            "enabled": self.enabled,
            "description": self.description,
            "next_runs": [moment.isoformat() for moment in self.next_runs] if self.enabled else [],
        }


def get_schedule(session: Session, account_id: int) -> Schedule | None:
    return session.scalars(select(Schedule).where(Schedule.account_id == account_id)).first()


def view(schedule: Schedule | None, account_id: int) -> ScheduleView:
    cron = schedule.cron if schedule else DEFAULT_CRON
    enabled = bool(schedule and schedule.enabled)
    return ScheduleView(account_id, cron, enabled, describe(cron), next_runs(cron) if enabled else [])


def set_cron(session: Session, account_id: int, expression: str) -> Schedule:
    cron = validate_cron(expression)
    schedule = get_schedule(session, account_id)
    if schedule is None:
        schedule = Schedule(account_id=account_id, cron=cron, enabled=True)
        session.add(schedule)
    else:
        schedule.cron = cron
    session.flush()
    return schedule


def set_enabled(session: Session, account_id: int, enabled: bool) -> Schedule:
    schedule = get_schedule(session, account_id)
    if schedule is None:
        schedule = Schedule(account_id=account_id, cron=DEFAULT_CRON, enabled=enabled)
        session.add(schedule)
    else:
        schedule.enabled = enabled
    session.flush()
    return schedule


def all_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.account_id)))

"""Reading request input into typed values, or a `BadInput` that says what is wrong.

Pages and the JSON API read the same parameters through these functions, so
both accept the same things and reject the same things the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, or_

from shared.models import Activity, DownloadState
from shared.planning import Filters
from shared.states import MISSING_STATES

from .errors import BadInput

PER_PAGE_CHOICES = (10, 25, 50, 100, 200)
DEFAULT_PER_PAGE = 50
MAX_PAGE = 1_000_000
# `state=pending` is the dashboard's "Missing" counter: every state `shared.states` counts as missing.
STATE_GROUPS: dict[str, tuple[str, ...]] = {"pending": MISSING_STATES}
# `state=deleted`: deleted on Garmin and kept in the archive (a flag, whatever the download state).
DELETED = "deleted"
ACTIVITY_STATES = tuple(str(state) for state in DownloadState)
ACTIVITY_SORTS = ("start", "name", "type", "state", "distance", "duration", "attempts")
RUN_STATUSES = ("running", "success", "partial", "error")
RUN_TRIGGERS = ("cli", "schedule", "web")
TASK_STATES = ("queued", "started", "retried", "succeeded", "failed", "revoked", "rejected")


@dataclass(frozen=True)
class ActivityFilters(Filters):
    """The shared date and type filters (`shared.planning.Filters`), plus state, search and order."""

    state: str | None = None
    q: str | None = None
    sort: str = "start"
    order: str = "desc"

    def states(self) -> tuple[str, ...] | None:
        if self.state is None or self.state == DELETED:
            return None
        return STATE_GROUPS.get(self.state, (self.state,))

    def clauses(self) -> list[ColumnElement[bool]]:
        """The shared filters', then the state and the search (by name, or an id): the list, its
        bulk actions and its CSV select the same activities."""
        clauses = super().clauses()
        states = self.states()
        if states is not None:
            clauses.append(Activity.state == states[0] if len(states) == 1 else Activity.state.in_(states))
        if self.state == DELETED:
            clauses.append(Activity.deleted_upstream.is_(True))
        if self.q:
            by_name = Activity.name.icontains(self.q, autoescape=True)
            is_id = self.q.isdigit() and len(self.q) <= 18
            clauses.append(or_(Activity.id == int(self.q), by_name) if is_id else by_name)
        return clauses

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "type": self.activity_type,
            "state": self.state,
            "q": self.q,
            "sort": self.sort,
            "order": self.order,
        }

    def query_args(self) -> dict[str, str]:
        """The non-default filters as URL parameters (pager and sort links)."""
        args = {key: str(value) for key, value in self.as_dict().items() if value}
        if args.get("sort") == "start":
            args.pop("sort")
        if args.get("order") == "desc":
            args.pop("order")
        return args


@dataclass(frozen=True)
class RunFilters:
    status: str | None = None
    trigger: str | None = None
    since: date | None = None
    until: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    def query_args(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.as_dict().items() if value}


@dataclass(frozen=True)
class TaskFilters:
    state: str | None = None
    name: str | None = None
    q: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "name": self.name, "q": self.q}

    def query_args(self) -> dict[str, str]:
        return {key: str(value) for key, value in self.as_dict().items() if value}


@dataclass(frozen=True)
class Paging:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def text(args: Mapping[str, Any], name: str, max_len: int = 100) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text")
    value = value.strip()
    if not value:
        return None
    if len(value) > max_len:
        raise BadInput(f"{name} is too long (at most {max_len} characters)")
    if any(ord(ch) < 32 for ch in value):
        raise BadInput(f"{name} contains control characters")
    return value


def choice(
    args: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str | None = None
) -> str | None:
    value = text(args, name, 64)
    if value is None:
        return default
    if value not in allowed:
        raise BadInput(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
    return value


def parse_date(args: Mapping[str, Any], name: str) -> date | None:
    value = text(args, name, 32)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{name} must be a date like 2026-01-31 (got {value!r})") from None


def integer(args: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadInput(f"{name} must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise BadInput(f"{name} must be a whole number (got {str(value)[:20]!r})") from None
    if not lo <= number <= hi:
        raise BadInput(f"{name} must be between {lo} and {hi} (got {number})")
    return number


def boolean(args: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = args.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise BadInput(f"{name} must be true or false (got {str(value)[:20]!r})")


def date_range(args: Mapping[str, Any]) -> tuple[date | None, date | None]:
    since, until = parse_date(args, "since"), parse_date(args, "until")
    if since and until and since > until:
        raise BadInput(f"since ({since}) is after until ({until})")
    return since, until


def activity_filters(args: Mapping[str, Any]) -> ActivityFilters:
    since, until = date_range(args)
    return ActivityFilters(
        since=since,
        until=until,
        activity_type=text(args, "type", 64),
        state=choice(args, "state", (*ACTIVITY_STATES, *STATE_GROUPS, DELETED)),
        q=text(args, "q", 100),
        sort=choice(args, "sort", ACTIVITY_SORTS, "start") or "start",
        order=choice(args, "order", ("asc", "desc"), "desc") or "desc",
    )


def run_filters(args: Mapping[str, Any]) -> RunFilters:
    since, until = date_range(args)
    return RunFilters(
        status=choice(args, "status", RUN_STATUSES),
        trigger=choice(args, "trigger", RUN_TRIGGERS),
        since=since,
        until=until,
    )


def task_filters(args: Mapping[str, Any]) -> TaskFilters:
    return TaskFilters(
        state=choice(args, "state", TASK_STATES),
        name=text(args, "name", 128),
        q=text(args, "q", 100),
    )


def paging(args: Mapping[str, Any], default_per_page: int = DEFAULT_PER_PAGE) -> Paging:
    per_page = integer(args, "per_page", default_per_page, 1, max(PER_PAGE_CHOICES))
    return Paging(page=integer(args, "page", 1, 1, MAX_PAGE), per_page=per_page)


def activity_id(value: str) -> int:
    """Activity ids in URLs: Garmin's numbers, which exceed 2**31 but fit 63 bits."""
    try:
        number = int(value)
    except ValueError:
        raise BadInput(f"{value[:30]!r} is not an activity id") from None
    if not 0 < number < 2**63:
        raise BadInput(f"{value[:30]!r} is not an activity id")
    return number


def credentials(data: Mapping[str, Any]) -> tuple[str, str]:
    email = text(data, "email", 255)
    password = data.get("password")
    if not email or "@" not in email:
        raise BadInput("enter the Garmin account's email address")
    if not isinstance(password, str) or not password or len(password) > 1024:
        raise BadInput("enter the Garmin password")
    return email, password


def mfa_code(data: Mapping[str, Any]) -> str:
    code = text(data, "code", 16)
    if not code or not code.isdigit() or not 4 <= len(code) <= 10:
        raise BadInput("the security code is the 4 to 10 digits Garmin sent you")
    return code


def notify_urls(data: Mapping[str, Any]) -> str | None:
    """Apprise URLs, one per line or separated by commas or spaces (newlines allowed here)."""
    value = data.get("urls")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadInput("urls must be text")
    if len(value) > 4000:
        raise BadInput("the notification URLs are too long (at most 4000 characters)")
    if any(ord(ch) < 32 and ch not in "\r\n\t" for ch in value):
        raise BadInput("urls contains control characters")
    return value.strip() or None

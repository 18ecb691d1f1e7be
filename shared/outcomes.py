"""What an error means for the person who asked: one kind per error type, in one place.

The CLI turns a kind into its exit code (README, Exit codes), the dashboard
into an HTTP status, and a sync run that fails keeps the kind of what ended
it (`sync_runs.error_kind`), so `--wait` exits as the same failure would in
embedded mode. Decided from the error's type, never from its message.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.exc import DatabaseError, OperationalError

from shared import errors


class Kind(StrEnum):
    USAGE = "usage"  # fix the input
    NOT_FOUND = "not_found"
    AUTH = "auth"  # log in again
    RATE_LIMITED = "rate_limited"  # try later
    GARMIN_FAILING = "garmin_failing"  # try later
    ENVIRONMENT = "environment"  # a setting, the data dir, the database or Redis
    LOST = "lost"  # a run whose task disappeared; the next sync continues
    FAILED = "failed"  # one of our errors without a more precise kind
    INTERRUPTED = "interrupted"
    UNEXPECTED = "unexpected"  # a bug


_BY_TYPE: tuple[tuple[type[errors.GarminSyncError], Kind], ...] = (
    (errors.UsageError, Kind.USAGE),
    (errors.NotFound, Kind.NOT_FOUND),
    (errors.AuthRequired, Kind.AUTH),
    (errors.RateLimited, Kind.RATE_LIMITED),
    (errors.TransientError, Kind.GARMIN_FAILING),
    (errors.ConfigError, Kind.ENVIRONMENT),
    (errors.StorageError, Kind.ENVIRONMENT),
    (errors.BrokerUnavailable, Kind.ENVIRONMENT),
    (errors.AddressInUse, Kind.ENVIRONMENT),
    (errors.DeliveryFailed, Kind.ENVIRONMENT),  # the notification endpoint: a setting to check
)

EXIT_CODES: dict[Kind, int] = {
    Kind.USAGE: 2,
    Kind.NOT_FOUND: 1,
    Kind.AUTH: 3,
    Kind.RATE_LIMITED: 6,
    Kind.GARMIN_FAILING: 6,
    Kind.ENVIRONMENT: 5,
    Kind.LOST: 4,
    Kind.FAILED: 1,
    Kind.INTERRUPTED: 130,
    Kind.UNEXPECTED: 1,
}

HTTP_STATUSES: dict[Kind, int] = {
    Kind.USAGE: 400,
    Kind.NOT_FOUND: 404,
    # Garmin refused a login: bad input here; 401 is kept for the dashboard's own login.
    Kind.AUTH: 400,
    Kind.RATE_LIMITED: 429,
    Kind.GARMIN_FAILING: 502,
    Kind.ENVIRONMENT: 503,
    Kind.LOST: 500,
    Kind.FAILED: 400,
    Kind.INTERRUPTED: 503,
    Kind.UNEXPECTED: 500,
}


def kind_of(error: BaseException) -> Kind:
    """The kind of any error a use case may meet."""
    if isinstance(error, errors.GarminSyncError):
        return next((kind for cls, kind in _BY_TYPE if isinstance(error, cls)), Kind.FAILED)
    if isinstance(error, KeyboardInterrupt):
        return Kind.INTERRUPTED
    # Down, locked or damaged (`file is not a database`); an IntegrityError is a bug.
    if type(error) is DatabaseError or isinstance(error, OperationalError):
        return Kind.ENVIRONMENT
    return Kind.UNEXPECTED


def describe(error: BaseException) -> str:
    """One line for a run's message or a status line."""
    if isinstance(error, errors.GarminSyncError):
        return str(error)
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"unexpected {type(error).__name__}: {error}"

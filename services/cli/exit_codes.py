"""Exit codes (documented in the README) and the one place errors become them."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from sqlalchemy.exc import DatabaseError, OperationalError

from shared.errors import (
    AuthRequired,
    BrokerUnavailable,
    ConfigError,
    GarminSyncError,
    RateLimited,
    StorageError,
    TransientError,
    UsageError,
)
from shared.garmin_values import strip_controls

OK = 0
UNEXPECTED = 1
USAGE = 2
AUTH = 3
PARTIAL = 4
ENVIRONMENT = 5
GARMIN_UNAVAILABLE = 6

_CODES: list[tuple[type[GarminSyncError], int]] = [
    (UsageError, USAGE),
    (AuthRequired, AUTH),
    (ConfigError, ENVIRONMENT),
    (StorageError, ENVIRONMENT),
    (BrokerUnavailable, ENVIRONMENT),
    (RateLimited, GARMIN_UNAVAILABLE),
    (TransientError, GARMIN_UNAVAILABLE),
]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("garminsync.cli")


def code_for(error: GarminSyncError) -> int:
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return UNEXPECTED


def fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {strip_controls(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def handled[F: Callable[..., Any]](func: F) -> F:
    """One clear line and the right exit code for every error we know; no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GarminSyncError as exc:
            raise fail(str(exc), code_for(exc)) from None
        except DatabaseError as exc:
            if type(exc) is DatabaseError or isinstance(exc, OperationalError):  # down, locked, damaged
                raise fail(f"the database failed: {exc.orig}", ENVIRONMENT) from None
            raise fail(_unexpected(exc), UNEXPECTED) from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing is lost, run the command again to continue", 130) from None
        except typer.Exit:
            raise
        except Exception as exc:
            raise fail(_unexpected(exc), UNEXPECTED) from None

    return wrapper  # type: ignore[return-value]


def _unexpected(exc: Exception) -> str:
    log.debug("unexpected error", exc_info=True)
    return f"unexpected {type(exc).__name__}: {exc} (rerun with --verbose)"

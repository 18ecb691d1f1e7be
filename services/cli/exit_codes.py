"""Exit codes (documented in the README) and the one place a command's errors become them.

The code comes from the error's kind (`shared.outcomes`), never its message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import typer
from sqlalchemy.exc import DatabaseError

from shared.errors import GarminSyncError
from shared.garmin_values import strip_controls
from shared.outcomes import EXIT_CODES, Kind, kind_of

OK = 0
PARTIAL = 4  # some activities failed (the rest is archived), or verify found problems
UNEXPECTED = EXIT_CODES[Kind.UNEXPECTED]
ENVIRONMENT = EXIT_CODES[Kind.ENVIRONMENT]
INTERRUPTED = EXIT_CODES[Kind.INTERRUPTED]

log = logging.getLogger("garminsync.cli")


def code_for(error: BaseException) -> int:
    return EXIT_CODES[kind_of(error)]


def fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {strip_controls(message)}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def handled[F: Callable[..., Any]](func: F) -> F:
    """One clear line and the right exit code for every error we know; no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, BrokenPipeError):
            raise  # a reader that stopped early (`| head`): Click exits 1 without a word
        except GarminSyncError as exc:
            raise fail(str(exc), code_for(exc)) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted; nothing is lost, run the command again to continue", INTERRUPTED
            ) from None
        except DatabaseError as exc:
            if kind_of(exc) == Kind.ENVIRONMENT:  # down, locked, damaged
                raise fail(f"the database failed: {exc.orig}", ENVIRONMENT) from None
            raise fail(_unexpected(exc), UNEXPECTED) from None
        except Exception as exc:
            raise fail(_unexpected(exc), UNEXPECTED) from None

    return wrapper  # type: ignore[return-value]


def _unexpected(exc: Exception) -> str:
    log.debug("unexpected error", exc_info=True)
    return f"unexpected {type(exc).__name__}: {exc} (rerun with --verbose)"

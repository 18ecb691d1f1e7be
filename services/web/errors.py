"""Errors a request can end in, each with a status and one clear line.

Views raise these (or the project's own `GarminSyncError`s); one handler turns
them into a JSON error for `/api/...` and an HTML page with the message
otherwise, so bad input is a 4xx with a reason and never a 500.
"""

from __future__ import annotations

from shared.errors import GarminSyncError
from shared.outcomes import HTTP_STATUSES, kind_of


class WebError(Exception):
    """A request that cannot be served as asked."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadInput(WebError):
    status = 400


class Missing(WebError):
    status = 404


class Conflict(WebError):
    status = 409


def status_for(error: GarminSyncError) -> int:
    """The project's errors by kind (`shared.outcomes`), as the CLI's exit codes are."""
    return HTTP_STATUSES[kind_of(error)]


def status_of(error: Exception) -> int:
    """The HTTP status for any error a view may meet (500 only for the unexpected)."""
    if isinstance(error, WebError):
        return error.status
    if isinstance(error, GarminSyncError):
        return status_for(error)
    return 500

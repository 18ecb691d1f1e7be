"""The project's own error types.

Garmin's failures arrive as a handful of garminconnect exceptions whose meaning
hides in message strings; the gateway maps them once onto these, so tasks and
the CLI decide retry behaviour and exit codes from the type alone.
"""

from __future__ import annotations


class GarminSyncError(Exception):
    """Base class: every error a user may see carries a one-line message."""


class ConfigError(GarminSyncError):
    """A setting is missing or malformed."""


class UsageError(GarminSyncError):
    """The user asked for something that cannot be done as asked."""


class StorageError(GarminSyncError):
    """The data directory cannot be written."""


class AuthRequired(GarminSyncError):
    """The account needs `garminsync login`: no tokens, or Garmin refused them."""


class RateLimited(GarminSyncError):
    """Garmin answered 429, or our own budget says wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(GarminSyncError):
    """Garmin has no such resource (for an original download: no file)."""


class TransientError(GarminSyncError):
    """Worth retrying later: 5xx, timeouts, a broken ZIP, a FIT that fails its CRC."""


class BadArchive(TransientError):
    """The downloaded original is damaged (broken ZIP, bad FIT CRC)."""


class BadExport(TransientError):
    """A GPX/TCX export that is not well-formed, not of its format, or of another activity."""


class BrokerUnavailable(GarminSyncError):
    """Redis cannot be reached, so nothing can be enqueued."""


class AddressInUse(GarminSyncError):
    """The dashboard cannot listen where it was asked to (the port is taken)."""


class DeliveryFailed(GarminSyncError):
    """A notification could not be delivered (the endpoint refused it or is unreachable)."""

"""Fetching what an archived activity lacks: GPX/TCX exports, Garmin's details, its sidecar.

Runs inside the activity's download, after the original is written and
recorded, through the same rate-limited session (each export and each details
request takes its slot). A failure here never fails the original: it is
recorded on the format's row (`attempts`, `last_error`) and the next sync asks
again, until GARMINSYNC_MAX_ATTEMPTS. A rate limit or a lost Redis stops the
extras without counting an attempt; a refused login or an unwritable archive
stops them and is raised once the original is settled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from shared.db import create_session
from shared.errors import (
    AuthRequired,
    BrokerUnavailable,
    GarminSyncError,
    NotFound,
    RateLimited,
    StorageError,
)
from shared.exports import check_export
from shared.extras import DETAILS, SIDECAR, Wants, files_of
from shared.garmin import GarminGateway
from shared.models import Activity
from shared.sidecar import companion_path, record_file, saved_details, write_sidecar
from shared.storage import Storage, StoredFile

log = logging.getLogger(__name__)


@dataclass
class Extras:
    """What the extras step did: fetched formats, one line per problem, an error to raise after."""

    fetched: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stop: GarminSyncError | None = None

    @property
    def message(self) -> str | None:
        return "; ".join(self.problems) or None


def _fetch_export(storage: Storage, gateway: GarminGateway, activity: Activity, fmt: str) -> StoredFile:
    data = gateway.download_export(activity.id, fmt)
    check_export(fmt, data, activity.id, activity.start_time)
    return storage.write_atomic(companion_path(storage, activity, fmt), data)


def lacking_extras(db_url: str, activity: Activity, wants: Wants) -> list[str]:
    """What of `wants` the activity lacks (no request)."""
    if not wants.any:
        return []
    with create_session(db_url) as session:
        return wants.lacking(activity.file_format, files_of(session, [activity.id])[activity.id])


def fetch_extras(
    db_url: str,
    storage: Storage,
    gateway: GarminGateway,
    activity: Activity,
    wants: Wants,
    *,
    original_written: bool,
) -> Extras:
    """Fetch every lacking format and the details; (re)write the sidecar when it changed.

    `activity` carries the original as recorded (file_path, file_format).
    """
    result = Extras()
    with create_session(db_url) as session:
        files = files_of(session, [activity.id])[activity.id]
        for row in files.values():
            session.expunge(row)
    details: Any = None
    for need in wants.lacking(activity.file_format, files):
        fmt = SIDECAR if need == DETAILS else need
        stored: StoredFile | None = None
        try:
            if need == DETAILS:
                details = gateway.activity_details(activity.id)
            else:
                stored = _fetch_export(storage, gateway, activity, need)
        except (RateLimited, BrokerUnavailable) as exc:
            result.problems.append(f"{need} left for later: {exc}")
            break
        except (AuthRequired, StorageError) as exc:
            result.stop = exc
            break
        except GarminSyncError as exc:
            before = files.get(fmt)
            # Garmin has none (404): asking again will not change that.
            attempts = (
                wants.max_attempts if isinstance(exc, NotFound) else (before.attempts if before else 0) + 1
            )
            with create_session(db_url) as session:
                record_file(session, activity.id, fmt, None, attempts=attempts, last_error=str(exc))
            result.problems.append(str(exc))
            log.warning("activity %s: %s (the original is kept)", activity.id, exc)
            continue
        if stored is not None:
            with create_session(db_url) as session:
                record_file(session, activity.id, need, stored, attempts=0, last_error=None)
            result.fetched.append(need)
    sidecar = files.get(SIDECAR)
    if details is not None or original_written or sidecar is None or not sidecar.path:
        kept = details if details is not None else saved_details(storage, sidecar)
        try:
            stored = write_sidecar(storage, activity, kept)
        except StorageError as exc:
            result.stop = result.stop or exc
            return result
        with create_session(db_url) as session:
            values: dict[str, Any] = {"details": kept is not None}
            if details is not None:
                values.update(attempts=0, last_error=None)
                result.fetched.append(DETAILS)
            record_file(session, activity.id, SIDECAR, stored, **values)
    return result

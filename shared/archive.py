"""Archiving one activity: download the original, check it, store it, record it.

Idempotent: a second run finds the file with its size and hash and does
nothing. The state only becomes `downloaded` after the FIT header and CRC
check out and the file sits under its final name.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.db import create_session
from shared.errors import (
    AuthRequired,
    BadArchive,
    BrokerUnavailable,
    GarminSyncError,
    NotFound,
    RateLimited,
    StorageError,
    TransientError,
    UsageError,
)
from shared.extras import SIDECAR, Wants
from shared.fetch_extras import fetch_extras, lacking_extras
from shared.fit import check_fit, sniff_format
from shared.garmin import GarminGateway, unzip_original
from shared.models import Activity, DownloadState
from shared.runs import record_outcome
from shared.sidecar import record_file, write_sidecar
from shared.storage import Storage, sha256_hex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """`downloaded`, `already`, `no_file`, `failed` (terminal); `retry`: try later; `skipped`: not ours."""

    activity_id: int
    status: str
    message: str = ""
    path: str | None = None
    retry_after: float | None = None


def file_intact(storage: Storage, activity: Activity) -> bool:
    """The archived file exists with the recorded size and hash."""
    if not activity.file_path or activity.sha256 is None:
        return False
    data = storage.read(activity.file_path)
    return data is not None and len(data) == activity.file_size and sha256_hex(data) == activity.sha256


def _begin(db_url: str, storage: Storage, activity_id: int) -> Activity | Outcome:
    with create_session(db_url) as session:
        activity = session.get(Activity, activity_id)
        if activity is None:
            raise UsageError(f"unknown activity id {activity_id}")
        if activity.state == DownloadState.DOWNLOADED and file_intact(storage, activity):
            return Outcome(activity_id, "already", path=activity.file_path)
        if activity.state == DownloadState.NO_FILE:
            return Outcome(activity_id, "no_file", activity.last_error or "")
        if activity.state not in (DownloadState.QUEUED, DownloadState.DOWNLOADING):
            # A task whose claim was handed back or settled meanwhile (a duplicate delivery).
            return Outcome(activity_id, "skipped", f"no longer claimed ({activity.state})")
        activity.state = DownloadState.DOWNLOADING
        activity.attempts += 1
        activity.queued_at = activity.queued_at or datetime.now(UTC)
        session.flush()
        session.expunge(activity)
        return activity


def _settle(db_url: str, activity_id: int, **values: object) -> None:
    """Write the activity's new state; a terminal one counts towards its sync run."""
    with create_session(db_url) as session:
        activity = session.get(Activity, activity_id)
        if activity is None:
            return
        for key, value in values.items():
            setattr(activity, key, value)
        state = values.get("state")
        if state in (DownloadState.DOWNLOADED, DownloadState.FAILED, DownloadState.NO_FILE):
            activity.dispatched_at = None
            activity.not_before = None
            outcome = "failed" if state == DownloadState.FAILED else str(state)
            record_outcome(session, activity.run_id, outcome)


def _hand_back(db_url: str, activity: Activity, message: str, retry_in: float | None, attempt: bool) -> None:
    """Back into the backlog: the dispatcher (or the in-process runner) tries again later."""
    not_before = datetime.now(UTC) + timedelta(seconds=retry_in) if retry_in else None
    _settle(
        db_url,
        activity.id,
        state=DownloadState.QUEUED,
        attempts=activity.attempts if attempt else max(0, activity.attempts - 1),
        last_error=message,
        dispatched_at=None,
        not_before=not_before,
    )


def archive_activity(
    db_url: str,
    storage: Storage,
    gateway: GarminGateway,
    activity_id: int,
    *,
    max_attempts: int,
    retry_base_s: float,
    wants: Wants | None = None,
) -> Outcome:
    """Archive one activity: its original unless the recorded file is intact, then what it
    lacks of `wants` (exports, details) and its sidecar; transient trouble with the original
    returns `retry` until attempts run out, trouble with the extras never fails the original.

    Waiting for the budget is not an attempt: when the gateway may not wait
    that long (a worker), the activity goes back to the backlog untouched.
    """
    wants = wants or Wants(max_attempts=max_attempts)
    begun = _begin(db_url, storage, activity_id)
    if isinstance(begun, Outcome):
        return begun
    activity = begun
    # Intact on disk is not enough when Garmin's copy changed or a deep check found it wrong.
    intact = file_intact(storage, activity) and not activity.refetch_original
    try:
        if not intact or lacking_extras(db_url, activity, wants):
            gateway.wait_for_budget()
        if not intact:
            _fetch_original(db_url, storage, gateway, activity)
    except NotFound:
        return _no_file(
            db_url, storage, activity, "Garmin has no original file for this activity (manual entry?)"
        )
    except RateLimited as exc:
        # Not the activity's fault: give the attempt back; the budget or cool-down decides when.
        _hand_back(db_url, activity, str(exc), None, attempt=False)
        return Outcome(activity_id, "retry", str(exc), retry_after=exc.retry_after)
    except BrokerUnavailable as exc:
        # Redis went away under a worker: the backlog keeps the activity until it is back.
        log.warning("activity %s goes back to the backlog: %s", activity_id, exc)
        _hand_back(db_url, activity, str(exc), None, attempt=False)
        return Outcome(activity_id, "retry", str(exc))
    except (AuthRequired, StorageError) as exc:
        # Nothing can proceed until a person acts: hand the activity back for the next sync.
        _settle(
            db_url,
            activity_id,
            state=DownloadState.MISSING,
            queued_at=None,
            run_id=None,
            dispatched_at=None,
            not_before=None,
            attempts=max(0, activity.attempts - 1),
            last_error=str(exc),
        )
        raise
    except TransientError as exc:
        if activity.manual and not isinstance(exc, BadArchive):
            return _no_file(db_url, storage, activity, f"manual activity without a file ({exc})")
        if activity.attempts >= max_attempts:
            message = f"gave up after {activity.attempts} attempts: {exc}"
            _settle(db_url, activity_id, state=DownloadState.FAILED, last_error=message)
            return Outcome(activity_id, "failed", message)
        delay = backoff_delay(activity.attempts - 1, retry_base_s)
        _hand_back(db_url, activity, str(exc), delay, attempt=True)
        return Outcome(activity_id, "retry", str(exc), retry_after=delay)
    except GarminSyncError as exc:
        message = str(exc)
        _settle(db_url, activity_id, state=DownloadState.FAILED, last_error=message)
        return Outcome(activity_id, "failed", message)
    extras = fetch_extras(db_url, storage, gateway, activity, wants, original_written=not intact)
    _settle(db_url, activity_id, state=DownloadState.DOWNLOADED, last_error=extras.message)
    if extras.stop is not None:
        raise extras.stop  # the original is archived; the account (or the archive) needs a person
    if intact and not extras.fetched:
        return Outcome(activity_id, "already", path=activity.file_path)
    return Outcome(activity_id, "downloaded", extras.message or "", path=activity.file_path)


def _fetch_original(db_url: str, storage: Storage, gateway: GarminGateway, activity: Activity) -> None:
    """Download, check, write and record the original; `activity` (detached) learns where it is."""
    payload = gateway.download_original(activity.id)
    original = unzip_original(payload)
    fmt = sniff_format(original.entry_name, original.data)
    if fmt == "fit":
        check = check_fit(original.data)
        if not check.ok:
            raise BadArchive(f"the FIT file failed its check: {check.reason}")
    relative = storage.relative_path(
        activity.id, activity.start_time, fmt, activity.activity_type, activity.name
    )
    stored = storage.write_atomic(relative, original.data)
    recorded = {
        "file_format": fmt,
        "file_path": stored.relative_path,
        "file_size": stored.size,
        "sha256": stored.sha256,
        "downloaded_at": datetime.now(UTC),
        "refetch_original": False,
    }
    # Recorded at once, so a task re-delivered while the extras are fetched finds it intact.
    _settle(db_url, activity.id, **recorded)
    _drop_replaced(storage, activity, stored.relative_path)
    for key, value in recorded.items():
        setattr(activity, key, value)
    log.info("archived activity %s as %s", activity.id, stored.relative_path)


def _no_file(db_url: str, storage: Storage, activity: Activity, message: str) -> Outcome:
    """Garmin has no original: the activity is `no_file`, and its sidecar still keeps the summary."""
    _settle(db_url, activity.id, state=DownloadState.NO_FILE, last_error=message)
    try:
        stored = write_sidecar(storage, activity)
    except StorageError as exc:
        log.warning("activity %s: no sidecar written: %s", activity.id, exc)
    else:
        with create_session(db_url) as session:
            record_file(session, activity.id, SIDECAR, stored)
    return Outcome(activity.id, "no_file", message)


def _drop_replaced(storage: Storage, activity: Activity, new_path: str) -> None:
    """A file downloaded again under a new name (Garmin moved its start time) replaces the old
    one only now that the new one is checked and recorded."""
    old = activity.file_path
    if old and old != new_path:
        try:
            storage.remove(old)
        except StorageError as exc:
            log.warning("activity %s: the replaced file stays: %s", activity.id, exc)


def backoff_delay(attempt: int, base_s: float, cap_s: float = 900.0) -> float:
    """Exponential back-off with 50-100 % jitter, so retries of many activities spread out."""
    return min(cap_s, base_s * 2 ** max(0, attempt)) * random.uniform(0.5, 1.0)

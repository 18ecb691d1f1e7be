"""Refreshing the activity list from Garmin into the store.

Pages newest first and stops at the first page that holds an activity we
already know, so an unchanged account costs one request. Until one listing
has reached the oldest activity (`history_complete`), it keeps walking, so an
interrupted first sync is finished by the next. `full` (the reconcile) walks
everything and marks what Garmin no longer has as deleted upstream (kept on
disk). Every listing updates the activities it sees: a rename or a new type
is written to the row (nothing downloaded); a new start time, duration or
distance means Garmin's copy changed (a corrected upload, a trim), and an
archived file of it is downloaded again (docs/DECISIONS.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from shared import garmin_values
from shared.db import create_session, insert_new
from shared.garmin import GarminGateway
from shared.models import Account, Activity, DownloadState

log = logging.getLogger(__name__)
MAX_TIMESTAMP_S = 253402300799  # 9999-12-31T23:59:59Z, the last second datetime can hold
# column: Garmin's key (moving and elapsed time for the statistics, `shared.usecases.stats`)
MEASURES = {
    "duration_s": "duration",
    "distance_m": "distance",
    "moving_s": "movingDuration",
    "elapsed_s": "elapsedDuration",
}


# How far Garmin's summary may move before its file counts as changed: what a float's
# round trip through JSON and the database can never reach, what a re-upload always does.
CHANGE_TOLERANCE = {"start_time": 1.0, "duration_s": 0.5, "distance_m": 1.0}


@dataclass
class ListingResult:
    requests: int = 0
    found: int = 0
    new: int = 0
    deleted: int = 0
    updated: int = 0  # renamed or retyped on Garmin: the row changed, nothing downloaded
    changed: int = 0  # Garmin's file changed: the archived one is downloaded again
    reached_end: bool = False
    skipped: int = 0  # entries without a usable id or start time (logged)


def _parse_time(value: Any) -> datetime | None:
    """`2026-01-08 08:10:21` (list) or `2026-01-08T08:10:21.0` (detail); naive."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.split(".")[0]).replace(tzinfo=None)
    except ValueError:
        return None


def entry_columns(item: dict[str, Any]) -> dict[str, Any] | None:
    """The columns we keep from one list entry, cleaned (`shared.garmin_values`);
    None when it has no usable id or time (the entry is logged and skipped)."""
    if not isinstance(item, dict):
        log.warning("skipped an entry of Garmin's list: not an object")
        return None
    activity_id = garmin_values.activity_id(item.get("activityId"))
    if activity_id is None:
        log.warning(
            "skipped an entry of Garmin's list: its id %.40r is not a whole number from 1 to 2^63-1",
            item.get("activityId"),
        )
        return None
    start = _parse_time(item.get("startTimeGMT"))
    begin = garmin_values.finite(item.get("beginTimestamp"))
    if start is not None:
        start = start.replace(tzinfo=UTC)
    elif begin is not None and begin / 1000 < MAX_TIMESTAMP_S:
        start = datetime.fromtimestamp(begin / 1000, UTC)
    else:
        log.warning("skipped activity %s of Garmin's list: it has no readable start time", activity_id)
        return None
    type_info = item.get("activityType")
    activity_type = type_info.get("typeKey") if isinstance(type_info, dict) else None
    return {
        "id": activity_id,
        "name": garmin_values.clean_text(item.get("activityName"), 255),
        "activity_type": garmin_values.clean_text(activity_type, 64),
        "start_time": start,
        "start_time_local": _parse_time(item.get("startTimeLocal")),
        **{column: garmin_values.finite(item.get(key)) for column, key in MEASURES.items()},
        "manual": bool(item.get("manualActivity", False)),
        "summary_json": json.dumps(garmin_values.clean_json(item), separators=(",", ":"))[:20000],
    }


def _note_unknown(item: dict[str, Any], fields: dict[str, Any]) -> None:
    """Log a measure Garmin sent that could not be kept (Infinity, NaN, negative), once: when
    the activity is new."""
    for column, key in MEASURES.items():
        if item.get(key) is not None and fields[column] is None:
            log.warning(
                "activity %s: Garmin sent %s = %.20r; stored as unknown", fields["id"], key, item.get(key)
            )


@dataclass
class _Page:
    new: int
    ids: set[int]
    skipped: int
    updated: int
    changed: int


def _difference(activity: Activity, row: dict[str, Any]) -> str | None:
    """What moved in Garmin's summary beyond `CHANGE_TOLERANCE` (unknown values compare as equal)."""
    for column, tolerance in CHANGE_TOLERANCE.items():
        before, after = getattr(activity, column), row[column]
        if before is None or after is None:
            continue
        if isinstance(before, datetime):
            gap = abs((after - _utc(before)).total_seconds())
        else:
            gap = abs(after - before)
        if gap >= tolerance:
            return f"{column} {_shown(before)} → {_shown(after)}"
    return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _shown(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else f"{value:.1f}"


def _refresh_known(activity: Activity, row: dict[str, Any]) -> tuple[bool, bool]:
    """Bring a known activity up to Garmin's summary; (renamed or retyped, its file changed)."""
    activity.deleted_upstream = False
    activity.deleted_at = None
    updated = activity.name != row["name"] or activity.activity_type != row["activity_type"]
    moved = _difference(activity, row)
    for key in ("name", "activity_type", "start_time_local", *MEASURES, "summary_json"):
        if getattr(activity, key) != row[key]:
            setattr(activity, key, row[key])
    if _utc(activity.start_time) != row["start_time"]:  # SQLite hands back naive UTC
        activity.start_time = row["start_time"]
    if moved is None or activity.state != DownloadState.DOWNLOADED:
        return updated, False
    # The archived file stays (and stays recorded) until the new one is written over it.
    activity.state = DownloadState.MISSING
    activity.refetch_original = True
    activity.attempts = 0
    activity.queued_at = None
    activity.last_error = f"changed on Garmin ({moved}); downloading it again"
    log.info("activity %s changed on Garmin (%s): downloading it again", activity.id, moved)
    return updated, True


def _store_page(db_url: str, account_id: int, page: list[dict[str, Any]]) -> _Page:
    """Insert new activities, refresh known ones."""
    usable = [(item, fields) for item in page if (fields := entry_columns(item)) is not None]
    rows = {fields["id"]: fields for _, fields in usable}
    updated = changed = 0
    with create_session(db_url) as session:
        known = {
            activity.id: activity
            for activity in session.scalars(select(Activity).where(Activity.id.in_(rows)))
        }
        now = datetime.now(UTC)
        fresh = [
            {
                **row,
                "account_id": account_id,
                "state": DownloadState.MISSING,
                "attempts": 0,
                "deleted_upstream": False,
                "created_at": now,
                "updated_at": now,
            }
            for activity_id, row in rows.items()
            if activity_id not in known
        ]
        insert_new(session, Activity, fresh)  # a row another sync just inserted is skipped
        for item, fields in usable:
            if fields["id"] not in known:
                _note_unknown(item, fields)
        for activity_id, activity in known.items():
            renamed, moved = _refresh_known(activity, rows[activity_id])
            updated += renamed
            changed += moved
    return _Page(len(fresh), set(rows), len(page) - len(usable), updated, changed)


def refresh_listing(
    db_url: str,
    gateway: GarminGateway,
    account_id: int,
    page_size: int,
    full: bool = False,
    on_page: Callable[[], None] = lambda: None,
) -> ListingResult:
    """Page the list newest first into the store; `on_page` runs before each page (a heartbeat)."""
    result = ListingResult()
    with create_session(db_url) as session:
        account = session.get(Account, account_id)
        history_complete = bool(account and account.history_complete)
    seen: set[int] = set()
    start = 0
    while True:
        on_page()
        page = gateway.list_activities(start, page_size)
        result.requests += 1
        result.found += len(page)
        stored = _store_page(db_url, account_id, page)
        result.new += stored.new
        result.skipped += stored.skipped
        result.updated += stored.updated
        result.changed += stored.changed
        seen |= stored.ids
        if len(page) < page_size:
            result.reached_end = True
            break
        if not full and history_complete and stored.new < len(stored.ids):
            break  # reached activities we already know
        start += len(page)
    with create_session(db_url) as session:
        account = session.get(Account, account_id)
        if account is not None:
            account.last_sync_at = datetime.now(UTC)
            if result.reached_end:
                account.history_complete = True
        if full and result.reached_end:
            present = session.scalars(
                select(Activity.id).where(
                    Activity.account_id == account_id, Activity.deleted_upstream.is_(False)
                )
            )
            gone = sorted(set(present) - seen)
            now = datetime.now(UTC)
            for chunk in chunked(gone, 500):
                session.execute(
                    update(Activity)
                    .where(Activity.id.in_(chunk))
                    .values(deleted_upstream=True, deleted_at=now)
                )
            result.deleted = len(gone)
    return result


def chunked(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]

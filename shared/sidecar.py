"""The `.json` sidecar beside each original: what Garmin knows about the activity.

`{"summary": …}` is the activity list's entry, kept in the store when the list
was read (`activities.summary_json`), so writing it costs no request;
`"details"` is Garmin's activity details when GARMINSYNC_SAVE_DETAILS fetched
them. The sidecar is named like the original with `.json` (from the recorded
path, or the sanitised layout when there is no file), written atomically like
every archive file, and holds nothing but Garmin's JSON about the activity:
never a token.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from shared.db import create_session
from shared.extras import SIDECAR
from shared.garmin_values import clean_json
from shared.models import Activity, ActivityFile, DownloadState
from shared.storage import Storage, StoredFile, sanitize

log = logging.getLogger(__name__)
BACKFILL_PER_RUN = 2000  # sidecars written per sync for an archive made before they existed


def companion_path(storage: Storage, activity: Activity, ext: str) -> str:
    """Named like the activity's original, with `ext` instead of the original's extension."""
    original_ext = f".{activity.file_format or 'fit'}"
    base = activity.file_path or storage.relative_path(
        activity.id, activity.start_time, original_ext[1:], activity.activity_type, activity.name
    )
    stem = base[: -len(original_ext)] if base.endswith(original_ext) else base
    return f"{stem}.{sanitize(ext, 8)}"


def _summary(summary_json: str | None) -> Any:
    try:
        return json.loads(summary_json) if summary_json else None
    except ValueError:  # a summary stored cut short by an earlier release
        return None


def sidecar_bytes(summary_json: str | None, details: Any = None) -> bytes:
    """The sidecar's content: strict JSON (no NaN), readable, UTF-8."""
    body: dict[str, Any] = {"summary": _summary(summary_json)}
    if details is not None:
        body["details"] = clean_json(details)
    return (json.dumps(body, ensure_ascii=False, indent=1, allow_nan=False) + "\n").encode()


def saved_details(storage: Storage, row: ActivityFile | None) -> Any:
    """The details an existing sidecar holds, to keep them when it is written again."""
    if row is None or not row.details or not row.path:
        return None
    data = storage.read(row.path)
    try:
        return json.loads(data).get("details") if data else None
    except (ValueError, AttributeError):
        return None


def record_file(
    session: Any, activity_id: int, fmt: str, stored: StoredFile | None, **values: Any
) -> ActivityFile:
    """Upsert one activity_files row; `stored` is the file written (None: only `values` change)."""
    row = session.get(ActivityFile, (activity_id, fmt))
    if row is None:
        row = ActivityFile(activity_id=activity_id, format=fmt, attempts=0, details=False)
        session.add(row)
    if stored is not None:
        row.path, row.size, row.sha256 = stored.relative_path, stored.size, stored.sha256
        row.fetched_at = datetime.now(UTC)
    for key, value in values.items():
        setattr(row, key, value)
    return row


def write_sidecar(storage: Storage, activity: Activity, details: Any = None) -> StoredFile:
    return storage.write_atomic(
        companion_path(storage, activity, SIDECAR), sidecar_bytes(activity.summary_json, details)
    )


def write_missing_sidecars(
    db_url: str, storage: Storage, account_id: int, limit: int = BACKFILL_PER_RUN
) -> int:
    """Sidecars for activities archived (or without a file) before sidecars existed: no request."""
    has_sidecar = select(ActivityFile.activity_id).where(
        ActivityFile.activity_id == Activity.id, ActivityFile.format == SIDECAR
    )
    written = 0
    while written < limit:
        with create_session(db_url) as session:
            batch = list(
                session.scalars(
                    select(Activity)
                    .where(
                        Activity.account_id == account_id,
                        Activity.state.in_([DownloadState.DOWNLOADED, DownloadState.NO_FILE]),
                        ~has_sidecar.exists(),
                    )
                    .order_by(Activity.id)
                    .limit(min(200, limit - written))
                )
            )
            for activity in batch:
                record_file(session, activity.id, SIDECAR, write_sidecar(storage, activity))
        if not batch:
            break
        written += len(batch)
    if written:
        log.info("wrote %d sidecar(s) for activities archived before sidecars existed", written)
    return written

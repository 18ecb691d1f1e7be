"""Re-checking the archive: every downloaded file against its size, hash and CRC."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select, update

from shared.db import create_session
from shared.fit import check_fit
from shared.models import Activity, DownloadState
from shared.storage import Storage, sha256_hex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    activity_id: int
    path: str | None
    reason: str


def check_one(storage: Storage, activity: Activity) -> str | None:
    """Why this archived file is not intact, or None when it is."""
    if not activity.file_path:
        return "no file path recorded"
    data = storage.read(activity.file_path)
    if data is None:
        return "file is missing"
    if len(data) != activity.file_size:
        return f"size {len(data)} differs from recorded {activity.file_size}"
    if sha256_hex(data) != activity.sha256:
        return "sha256 differs from the recorded hash"
    if activity.file_format == "fit":
        check = check_fit(data)
        if not check.ok:
            return f"FIT check failed: {check.reason}"
    return None


def verify_archive(db_url: str, storage: Storage, account_id: int) -> Iterator[Problem | None]:
    """Yield None per intact file and a Problem per damaged one (for progress bars).

    First removes what killed downloads left (temp files no one writes any more).
    """
    removed = storage.remove_partials()
    if removed:
        log.warning("removed %d partial file(s) that interrupted downloads left in the archive", removed)
    last_id = -1
    while True:
        with create_session(db_url) as session:
            batch = list(
                session.scalars(
                    select(Activity)
                    .where(Activity.account_id == account_id)
                    .where(Activity.state == DownloadState.DOWNLOADED, Activity.id > last_id)
                    .order_by(Activity.id)
                    .limit(500)
                )
            )
        if not batch:
            return
        for activity in batch:
            reason = check_one(storage, activity)
            yield None if reason is None else Problem(activity.id, activity.file_path, reason)
        last_id = batch[-1].id


def count_downloaded(db_url: str, account_id: int) -> int:
    from sqlalchemy import func

    with create_session(db_url) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Activity)
                .where(Activity.account_id == account_id, Activity.state == DownloadState.DOWNLOADED)
            )
            or 0
        )


def mark_for_redownload(db_url: str, activity_ids: list[int]) -> None:
    """Damaged files go back to `missing` so the next download fetches them again."""
    with create_session(db_url) as session:
        for start in range(0, len(activity_ids), 500):
            session.execute(
                update(Activity)
                .where(Activity.id.in_(activity_ids[start : start + 500]))
                .values(
                    state=DownloadState.MISSING,
                    attempts=0,
                    queued_at=None,
                    last_error="failed verification; re-queued",
                )
            )

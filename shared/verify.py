"""Re-checking the archive: every downloaded file against its size, hash and CRC, and with
`deep` every FIT file decoded by Garmin's SDK and compared with Garmin's summary
(`shared.fit_deep`)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select, update

from shared.db import create_session
from shared.fit import check_fit
from shared.fit_deep import CHECKS, DeepCheck, Summary, deep_check
from shared.models import Activity, DownloadState
from shared.storage import Storage, sha256_hex

log = logging.getLogger(__name__)


FILE_CHECK = "file"  # size, sha256 and CRC: what every verify checks


@dataclass(frozen=True)
class Problem:
    activity_id: int
    path: str | None
    reason: str
    check: str = FILE_CHECK  # or the deep check (`shared.fit_deep.CHECKS`) that failed


@dataclass
class Tally:
    """How many FIT files passed, failed or skipped each deep check."""

    counts: dict[str, Counter[str]] = field(default_factory=lambda: {name: Counter() for name in CHECKS})
    files: int = 0

    def add(self, result: DeepCheck) -> None:
        self.files += 1
        for name, outcome in result.outcomes.items():
            self.counts[name][outcome] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            name: {key: self.counts[name][key] for key in ("passed", "failed", "skipped")} for name in CHECKS
        }


def check_one(storage: Storage, activity: Activity, tally: Tally | None = None) -> Problem | None:
    """Why this archived file is not sound, or None when it is; with a `tally`, deep checks too."""
    if not activity.file_path:
        return Problem(activity.id, activity.file_path, "no file path recorded")
    data = storage.read(activity.file_path)
    reason: str | None = None
    if data is None:
        reason = "file is missing"
    elif len(data) != activity.file_size:
        reason = f"size {len(data)} differs from recorded {activity.file_size}"
    elif sha256_hex(data) != activity.sha256:
        reason = "sha256 differs from the recorded hash"
    elif activity.file_format == "fit":
        check = check_fit(data)
        if not check.ok:
            reason = f"FIT check failed: {check.reason}"
    if reason is not None:
        return Problem(activity.id, activity.file_path, reason)
    if tally is None or activity.file_format != "fit" or data is None:
        return None
    summary = Summary.of(activity.start_time, activity.duration_s, activity.summary_json)
    result = deep_check(data, summary)
    tally.add(result)
    if result.ok:
        return None
    return Problem(activity.id, activity.file_path, f"{result.check}: {result.reason}", str(result.check))


def verify_archive(
    db_url: str, storage: Storage, account_id: int, tally: Tally | None = None
) -> Iterator[Problem | None]:
    """Yield None per sound file and a Problem per damaged one (for progress bars); with a
    `tally`, FIT files get the deep checks and the tally their counts.

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
            yield check_one(storage, activity, tally)
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
                    refetch_original=True,
                    attempts=0,
                    queued_at=None,
                    last_error="failed verification; re-queued",
                )
            )

"""Re-check the archive, and download again what is damaged, gone or (deep) not this activity's."""

from __future__ import annotations

from collections.abc import Iterator

from shared.runtime import Runtime
from shared.usecases.delivery import Delivery, Handed
from shared.usecases.downloads import download
from shared.verify import Problem, Tally, count_downloaded, mark_for_redownload, verify_archive


def files_to_check(runtime: Runtime, account_id: int) -> int:
    return count_downloaded(runtime.settings.database_url, account_id)


def check_archive(runtime: Runtime, account_id: int, tally: Tally | None = None) -> Iterator[Problem | None]:
    """None per sound file, a Problem per damaged or missing one (for a progress bar); with a
    `tally`, FIT files are decoded and compared with Garmin's summary too (`--deep`)."""
    return verify_archive(runtime.settings.database_url, runtime.storage, account_id, tally)


def repair(runtime: Runtime, delivery: Delivery, account_id: int, problems: list[Problem]) -> Handed:
    """The damaged files go back to `missing` and are downloaded again."""
    ids = [problem.activity_id for problem in problems]
    delivery.check()
    mark_for_redownload(runtime.settings.database_url, ids)
    return download(runtime, delivery, account_id, ids)

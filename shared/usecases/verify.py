"""Re-check the archive, and download again what is damaged, gone or (deep) not this activity's."""

from __future__ import annotations

from collections.abc import Iterator

from shared.db import create_session
from shared.notify import events
from shared.notify.hooks import flush_quietly
from shared.runtime import Runtime
from shared.usecases.delivery import Delivery, Handed
from shared.usecases.downloads import download
from shared.verify import Problem, Tally, count_downloaded, mark_for_redownload, verify_archive


def files_to_check(runtime: Runtime, account_id: int) -> int:
    return count_downloaded(runtime.settings.database_url, account_id)


def check_archive(runtime: Runtime, account_id: int, tally: Tally | None = None) -> Iterator[Problem | None]:
    """None per sound file, a Problem per damaged or missing one (for a progress bar); with a
    `tally`, FIT files are decoded and compared with Garmin's summary too (`--deep`).

    Damage found in a whole pass is notified (`verify_damage`): once, after the pass.
    """
    found: list[Problem] = []
    for item in verify_archive(runtime.settings.database_url, runtime.storage, account_id, tally):
        if item is not None:
            found.append(item)
        yield item
    if not found:
        return
    settings = runtime.settings
    with create_session(settings.database_url) as session:
        sample = [{"activity_id": p.activity_id, "reason": p.reason} for p in found[: events.DIGEST_ITEMS]]
        events.verify_damage(session, account_id, sample, len(found))
    if settings.embedded:
        flush_quietly(settings, runtime.cipher)


def repair(runtime: Runtime, delivery: Delivery, account_id: int, problems: list[Problem]) -> Handed:
    """The damaged files go back to `missing` and are downloaded again."""
    ids = [problem.activity_id for problem in problems]
    delivery.check()
    mark_for_redownload(runtime.settings.database_url, ids)
    return download(runtime, delivery, account_id, ids)

"""Remove from the archive what Garmin no longer has, only when a person asks.

A reconcile flags activities deleted on Garmin and keeps them (row and file):
an archive outlives the service. `garminsync prune --deleted --yes` deletes
their files and rows; without `--yes` it shows what would go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select

from shared.db import create_session
from shared.models import Activity
from shared.planning import CHUNK
from shared.runtime import Runtime


@dataclass(frozen=True)
class Pruned:
    done: bool  # False: a dry run, nothing removed
    activity_ids: list[int] = field(default_factory=list)
    files: int = 0  # archived files (removed, or that would be)


def prune_deleted(runtime: Runtime, account_id: int, *, confirm: bool) -> Pruned:
    """The activities deleted on Garmin: removed (files, then rows) with `confirm`, else listed."""
    with create_session(runtime.settings.database_url) as session:
        found = session.execute(
            select(Activity.id, Activity.file_path)
            .where(Activity.account_id == account_id, Activity.deleted_upstream.is_(True))
            .order_by(Activity.start_time.desc())
        ).all()
    ids = [activity_id for activity_id, _ in found]
    paths = [path for _, path in found if path]
    if not confirm:
        return Pruned(False, ids, sum(runtime.storage.absolute(path).is_file() for path in paths))
    removed = sum(runtime.storage.remove(path) for path in paths)
    with create_session(runtime.settings.database_url) as session:
        for start in range(0, len(ids), CHUNK):
            session.execute(
                delete(Activity).where(
                    Activity.id.in_(ids[start : start + CHUNK]), Activity.deleted_upstream.is_(True)
                )
            )
    return Pruned(True, ids, removed)

"""What the archive keeps beside each original, and what an activity still lacks of it.

`GARMINSYNC_FORMATS` asks for GPX/TCX exports beside the original and
`GARMINSYNC_SAVE_DETAILS` for Garmin's details in the sidecar: each is one
request. An archived activity that lacks one of them is claimed again by the
next sync (`lacking_clause`) and its download fetches only what it lacks; the
dispatcher charges each download the requests it will make (`request_costs`),
so the budget still paces the work (docs/DECISIONS.md, 31). A format that
keeps failing stops being asked for after GARMINSYNC_MAX_ATTEMPTS, until
`download ID` asks again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from shared.config import Settings
from shared.models import Activity, ActivityFile

SIDECAR = "json"  # the activity_files format of the sidecar
DETAILS = "details"  # what `lacking` calls a details request


@dataclass(frozen=True)
class Wants:
    """Extra formats (beyond the original) and whether details are saved."""

    formats: tuple[str, ...] = ()
    details: bool = False
    max_attempts: int = 5

    @classmethod
    def of(cls, settings: Settings) -> Wants:
        return cls(
            formats=tuple(fmt for fmt in settings.formats if fmt != "fit"),
            details=settings.save_details,
            max_attempts=settings.max_attempts,
        )

    @property
    def any(self) -> bool:
        return bool(self.formats or self.details)

    def _settled(self, fmt: str, done: ColumnElement[bool]) -> Any:
        """A row of `fmt` that is done, or that gave up."""
        return exists().where(
            ActivityFile.activity_id == Activity.id,
            ActivityFile.format == fmt,
            or_(done, ActivityFile.attempts >= self.max_attempts),
        )

    def lacking_clause(self) -> ColumnElement[bool] | None:
        """An activity lacks a wanted format or its details (attempts left); None: nothing wanted."""
        clauses: list[ColumnElement[bool]] = [
            and_(
                or_(Activity.file_format.is_(None), Activity.file_format != fmt),  # the original is it
                ~self._settled(fmt, ActivityFile.sha256.is_not(None)),
            )
            for fmt in self.formats
        ]
        if self.details:
            clauses.append(~self._settled(SIDECAR, ActivityFile.details.is_(True)))
        return or_(*clauses) if clauses else None

    def lacking(self, original_format: str | None, files: dict[str, ActivityFile]) -> list[str]:
        """What to fetch for one activity: formats, then `details`."""

        def settled(fmt: str, done: bool) -> bool:
            row = files.get(fmt)
            return row is not None and (done or row.attempts >= self.max_attempts)

        needed = [
            fmt
            for fmt in self.formats
            if fmt != original_format and not settled(fmt, bool(files.get(fmt) and files[fmt].sha256))
        ]
        if self.details and not settled(SIDECAR, bool(files.get(SIDECAR) and files[SIDECAR].details)):
            needed.append(DETAILS)
        return needed


def files_of(session: Session, activity_ids: Iterable[int]) -> dict[int, dict[str, ActivityFile]]:
    """The activity_files rows of these activities, by activity and format."""
    ids = list(activity_ids)
    found: dict[int, dict[str, ActivityFile]] = {activity_id: {} for activity_id in ids}
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(ActivityFile).where(ActivityFile.activity_id.in_(ids[start : start + 500]))
        )
        for row in rows:
            found[row.activity_id][row.format] = row
    return found


def archived_formats(session: Session, originals: dict[int, str | None]) -> dict[int, list[str]]:
    """The formats each activity has in the archive: its original's (`originals`: None when it
    has none archived), then the exports beside it."""
    formats: dict[int, list[str]] = {
        activity_id: [fmt] if fmt else [] for activity_id, fmt in originals.items()
    }
    ids = list(originals)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(ActivityFile.activity_id, ActivityFile.format)
            .where(ActivityFile.activity_id.in_(ids[start : start + 500]), ActivityFile.format != SIDECAR)
            .where(ActivityFile.sha256.is_not(None))
            .order_by(ActivityFile.activity_id, ActivityFile.format)
        )
        for activity_id, fmt in rows.tuples():
            formats[activity_id].append(fmt)
    return formats


def request_costs(session: Session, activity_ids: list[int], wants: Wants) -> dict[int, int]:
    """Requests each activity's download will make (at least one): the original unless it is
    recorded (and not to be fetched again), plus every lacking format and the details."""
    if not activity_ids:
        return {}
    originals: dict[int, tuple[bool, str | None]] = {}
    for start in range(0, len(activity_ids), 500):
        rows = session.execute(
            select(Activity.id, Activity.sha256, Activity.refetch_original, Activity.file_format).where(
                Activity.id.in_(activity_ids[start : start + 500])
            )
        )
        originals.update(
            {row.id: (bool(row.sha256) and not row.refetch_original, row.file_format) for row in rows}
        )
    files = files_of(session, activity_ids) if wants.any else {}
    costs: dict[int, int] = {}
    for activity_id in activity_ids:
        recorded, original_format = originals.get(activity_id, (False, None))
        extras = len(wants.lacking(original_format, files.get(activity_id, {}))) if wants.any else 0
        costs[activity_id] = max(1, (0 if recorded else 1) + extras)
    return costs

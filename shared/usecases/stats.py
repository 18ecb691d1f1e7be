"""Statistics of the archive: totals per year, month or activity type, from the stored summaries.

One GROUP BY in the database (SQLite and PostgreSQL alike), so thousands of
activities cost one query. Years and months are those of the activity's local
start (where it happened), falling back to UTC when Garmin gave no local time.
Every activity Garmin listed counts, archived or not, deleted on Garmin or not:
these are the stored summaries, not the files.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from shared.db import create_session
from shared.errors import UsageError
from shared.models import Activity
from shared.runtime import Runtime

GROUPINGS = ("year", "month", "type")
UNKNOWN_TYPE = "unknown"
MEASURES = ("distance_km", "moving_s", "elapsed_s", "duration_s")


def _key(session: Session, by: str) -> ColumnElement[Any]:
    if by == "type":
        return func.coalesce(Activity.activity_type, UNKNOWN_TYPE)
    width = 4 if by == "year" else 7  # 2026, 2026-01
    if session.get_bind().dialect.name == "postgresql":
        # start_time is timestamptz: its UTC wall time, so both sides are naive timestamps.
        moment = func.coalesce(Activity.start_time_local, func.timezone("UTC", Activity.start_time))
        return func.to_char(moment, "YYYY" if by == "year" else "YYYY-MM")
    # SQLite keeps both as ISO text: the year or year-month is its prefix.
    return func.substr(func.coalesce(Activity.start_time_local, Activity.start_time), 1, width)


def totals(runtime: Runtime, account_id: int, by: str = "year") -> dict[str, Any]:
    """Rows of {key, count, distance_km, moving_s, elapsed_s, duration_s}, and their sum."""
    if by not in GROUPINGS:
        raise UsageError(f"--by must be one of {', '.join(GROUPINGS)} (got {by!r})")
    with create_session(runtime.settings.database_url) as session:
        key = _key(session, by).label("key")
        query = (
            select(
                key,
                func.count().label("count"),
                func.sum(Activity.distance_m).label("distance_m"),
                func.sum(Activity.moving_s).label("moving_s"),
                func.sum(Activity.elapsed_s).label("elapsed_s"),
                func.sum(Activity.duration_s).label("duration_s"),
            )
            .where(Activity.account_id == account_id)
            .group_by(key)
        )
        query = query.order_by(func.count().desc(), key) if by == "type" else query.order_by(key)
        rows = [_row(row._mapping) for row in session.execute(query)]
    total = {
        "key": "total",
        "count": sum(row["count"] for row in rows),
        **{
            name: round(sum(row[name] for row in rows), 3)
            for name in ("distance_km", "moving_s", "elapsed_s")
        },
        "duration_s": round(sum(row["duration_s"] for row in rows), 3),
    }
    return {"by": by, "rows": rows, "total": total}


def _row(values: Any) -> dict[str, Any]:
    return {
        "key": str(values["key"]),
        "count": int(values["count"]),
        "distance_km": round(float(values["distance_m"] or 0) / 1000, 3),
        "moving_s": round(float(values["moving_s"] or 0), 3),
        "elapsed_s": round(float(values["elapsed_s"] or 0), 3),
        "duration_s": round(float(values["duration_s"] or 0), 3),
    }

"""Options several commands share, each with its help, as `Annotated` types."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from shared.errors import UsageError
from shared.planning import Filters

MAX_ROWS = 1_000_000_000  # beyond it a number is a typo, and beyond 2^63 the database overflows

AsJson = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
SummaryJson = Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")]
Wait = Annotated[bool, typer.Option(help="With Redis: follow the run until it ends.")]
Since = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], help="YYYY-MM-DD, inclusive.", show_default=False),
]
Until = Since
ActivityType = Annotated[str | None, typer.Option("--type", help="e.g. running.")]
LogLevel = Annotated[str, typer.Option(help="debug, info, warning, error.")]


def filters(since: datetime | None, until: datetime | None, activity_type: str | None) -> Filters:
    """`--since/--until/--type` as `Filters`; a range that ends before it starts is a usage error."""
    since_d: date | None = since.date() if since else None
    until_d: date | None = until.date() if until else None
    if since_d and until_d and since_d > until_d:
        raise UsageError(f"--since {since_d} is after --until {until_d}")
    return Filters(since=since_d, until=until_d, activity_type=activity_type)

"""`garminsync list`: the activities, refreshed from Garmin unless --offline."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.errors import UsageError
from shared.usecases import listing

from .. import output
from ..bootstrap import start
from ..exit_codes import handled
from ..options import MAX_ROWS, ActivityType, AsJson, Since, Until, filters


@handled
def list_activities(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Every activity (the default).")] = False,
    missing: Annotated[
        bool, typer.Option("--missing", help="Not archived yet: missing, queued or downloading.")
    ] = False,
    downloaded: Annotated[bool, typer.Option("--downloaded", help="Archived.")] = False,
    deleted: Annotated[
        bool, typer.Option("--deleted", help="Deleted on Garmin (kept in the archive until pruned).")
    ] = False,
    offline: Annotated[bool, typer.Option(help="Only the local store: no request to Garmin.")] = False,
    since: Since = None,
    until: Until = None,
    activity_type: ActivityType = None,
    as_json: AsJson = False,
    limit: Annotated[int | None, typer.Option(min=1, max=MAX_ROWS, help="At most this many rows.")] = None,
) -> None:
    """List activities, refreshing the list from Garmin first unless --offline."""
    if sum((all_, missing, downloaded, deleted)) > 1:
        raise UsageError("choose one of --all, --missing, --downloaded, --deleted")
    chosen = filters(since, until, activity_type)
    which = "missing" if missing else "downloaded" if downloaded else "deleted" if deleted else "all"
    ws = start(ctx)
    rows = listing.activities(ws.runtime, ws.account_id, which, chosen, limit, offline=offline)
    if as_json:
        output.print_json(rows)
    else:
        output.activity_table(rows)

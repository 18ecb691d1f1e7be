"""`garminsync download`: everything missing (through a sync), or given activities."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from shared.errors import UsageError
from shared.garmin_values import MAX_ACTIVITY_ID
from shared.usecases.delivery import REDIS, Handed
from shared.usecases.downloads import download as download_ids

from .. import output
from ..bootstrap import global_options, start
from ..exit_codes import OK, PARTIAL, handled
from ..options import ActivityType, Since, SummaryJson, Until, Wait, filters
from .sync import run_sync


@handled
def download(
    ctx: typer.Context,
    activity_ids: Annotated[
        list[int] | None, typer.Argument(min=1, max=MAX_ACTIVITY_ID, help="Specific activity ids.")
    ] = None,
    missing: Annotated[bool, typer.Option("--missing", help="Everything not archived yet.")] = False,
    since: Since = None,
    until: Until = None,
    activity_type: ActivityType = None,
    wait: Wait = False,
    as_json: SummaryJson = False,
) -> None:
    """Refresh the list from Garmin, then download what is missing."""
    if not missing and not activity_ids:
        raise UsageError("say what to download: --missing, or activity ids")
    if missing and activity_ids:
        raise UsageError("give either --missing or activity ids, not both")
    chosen = filters(since, until, activity_type)
    ws = start(ctx)
    if not activity_ids:
        raise typer.Exit(run_sync(ctx, ws, full=False, filters=chosen, wait=wait, as_json=as_json))
    with output.DownloadBar(global_options(ctx).verbose) as progress:
        handed = download_ids(ws.runtime, ws.delivery(progress), ws.account_id, activity_ids)
    raise typer.Exit(show_downloads(handed, as_json))


def show_downloads(handed: Handed, as_json: bool) -> int:
    """Queued for the workers, or how the downloads run here ended (`download ID`, `verify --repair`)."""
    if handed.mode == REDIS:
        output.out.print(f"Queued {len(handed.activity_ids)} download(s).")
        return OK
    counts = handed.counts or Counter()
    output.download_counts(counts, as_json)
    return PARTIAL if counts["failed"] or counts["deferred"] else OK

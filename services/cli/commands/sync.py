"""`garminsync sync` (and the sync behind `download --missing`): queue it or run it here."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from shared.models import SyncRun
from shared.outcomes import EXIT_CODES
from shared.planning import Filters
from shared.reports import find_run
from shared.usecases import runs
from shared.usecases.delivery import EMBEDDED
from shared.usecases.sync import sync as start_sync

from .. import output
from ..bootstrap import Workspace, global_options, start
from ..exit_codes import OK, PARTIAL, handled
from ..options import SummaryJson, Wait


@handled
def sync(
    ctx: typer.Context,
    full: Annotated[bool, typer.Option(help="Walk the whole history; notice deletions.")] = False,
    wait: Wait = False,
    as_json: SummaryJson = False,
) -> None:
    """Sync the account: refresh the list, then archive every missing activity."""
    raise typer.Exit(run_sync(ctx, start(ctx), full=full, filters=Filters(), wait=wait, as_json=as_json))


def run_sync(
    ctx: typer.Context, ws: Workspace, *, full: bool, filters: Filters, wait: bool, as_json: bool
) -> int:
    """The exit code of a sync: queued (0), followed with --wait, or run here to its end."""
    verbose = global_options(ctx).verbose
    with output.DownloadBar(verbose) as progress:
        handed = start_sync(
            ws.runtime, ws.delivery(progress), ws.account_id, "cli", full=full, filters=filters
        )
    assert handed.run_id is not None
    if handed.mode == EMBEDDED:
        run = find_run(ws.settings.database_url, handed.run_id)
        return _report(ws, run, handed.run_id, handed.counts or Counter(), as_json)
    if not wait:
        output.sync_queued(handed.run_id, handed.task_id, as_json)
        return OK
    return _follow(ws, handed.run_id, verbose, as_json)


def _report(ws: Workspace, run: SyncRun | None, run_id: int, counts: Counter[str], as_json: bool) -> int:
    output.sync_report(run, run_id, counts, str(ws.settings.data_dir), as_json)
    return PARTIAL if counts["failed"] or counts["deferred"] else OK


def _follow(ws: Workspace, run_id: int, verbose: bool, as_json: bool) -> int:
    """Follow a queued run through the store until it ends; a failed run exits by its kind."""
    with output.bar(verbose) as progress:
        task = progress.add_task(f"Sync run #{run_id}", total=None)

        def show(run: SyncRun) -> None:
            progress.update(
                task, total=run.queued or None, completed=run.downloaded + run.failed + run.no_file
            )

        run = runs.follow(ws.runtime, run_id, show)
    counts = Counter(downloaded=run.downloaded, failed=run.failed, no_file=run.no_file)
    code = _report(ws, run, run_id, counts, as_json)
    if run.status != "error":
        return code
    output.err.print(f"[red]sync run #{run_id} failed:[/red] {output.safe(run.message)}")
    kind = runs.failure(run)
    return EXIT_CODES[kind] if kind is not None else PARTIAL

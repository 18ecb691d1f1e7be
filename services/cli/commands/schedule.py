"""`garminsync schedule show|set|enable|disable [--reconcile]`: the schedules, mirrored to beat at once."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.models import ScheduleKind
from shared.schedules import validate_cron
from shared.usecases import schedule as schedules

from .. import output
from ..bootstrap import start
from ..exit_codes import handled
from ..options import AsJson

app = typer.Typer(
    help="The sync and reconcile schedules (cron, UTC), run by `garminsync beat`.", no_args_is_help=True
)

Reconcile = Annotated[
    bool,
    typer.Option(
        "--reconcile",
        help="The reconcile schedule (a full walk of Garmin's list: renames, changed files, deletions) "
        "instead of the sync schedule.",
    ),
]


def _kind(reconcile: bool) -> ScheduleKind:
    return ScheduleKind.RECONCILE if reconcile else ScheduleKind.SYNC


@app.command("show")
@handled
def show(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Both schedules: the cron, whether it is enabled, and the next five runs."""
    ws = start(ctx)
    views = [schedules.show(ws.runtime, ws.account_id, kind) for kind in ScheduleKind]
    if as_json:
        sync_view, reconcile_view = (view.as_dict() for view in views)
        output.print_json({**sync_view, "reconcile": reconcile_view})
        return
    note = "embedded mode: needs Redis and beat" if ws.settings.embedded else "beat"
    for view in views:
        output.schedule(view, note)


@app.command("set")
@handled
def set_cron(
    ctx: typer.Context,
    cron: Annotated[str, typer.Argument(help="Five-field cron in UTC, or hourly / daily / weekly.")],
    reconcile: Reconcile = False,
) -> None:
    """Set the cron. A first schedule starts enabled; an existing one stays on or off as it was."""
    validate_cron(cron)  # a wrong cron fails before anything starts
    _change(ctx, _kind(reconcile), cron=cron)


@app.command("enable")
@handled
def enable(ctx: typer.Context, reconcile: Reconcile = False) -> None:
    """Turn scheduled syncs (or, --reconcile, the scheduled reconcile) on."""
    _change(ctx, _kind(reconcile), enabled=True)


@app.command("disable")
@handled
def disable(ctx: typer.Context, reconcile: Reconcile = False) -> None:
    """Turn scheduled syncs (or the reconcile) off; the cron is kept."""
    _change(ctx, _kind(reconcile), enabled=False)


def _change(
    ctx: typer.Context, kind: ScheduleKind, *, cron: str | None = None, enabled: bool | None = None
) -> None:
    ws = start(ctx)
    changed = schedules.change(ws.runtime, ws.queue(), ws.account_id, cron=cron, enabled=enabled, kind=kind)
    output.schedule(changed.schedule, output.MIRROR_NOTES[changed.mirror])

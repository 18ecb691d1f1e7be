"""`garminsync schedule show|set|enable|disable`: the sync schedule, mirrored to beat at once."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.schedules import validate_cron
from shared.usecases import schedule as schedules

from .. import output
from ..bootstrap import start
from ..exit_codes import handled
from ..options import AsJson

app = typer.Typer(help="The sync schedule (cron, UTC), run by `garminsync beat`.", no_args_is_help=True)


@app.command("show")
@handled
def show(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The cron, whether it is enabled, and the next five runs."""
    ws = start(ctx)
    view = schedules.show(ws.runtime, ws.account_id)
    if as_json:
        output.print_json(view.as_dict())
    else:
        output.schedule(view, "embedded mode: needs Redis and beat" if ws.settings.embedded else "beat")


@app.command("set")
@handled
def set_cron(
    ctx: typer.Context,
    cron: Annotated[str, typer.Argument(help="Five-field cron in UTC, or hourly / daily / weekly.")],
) -> None:
    """Set the cron. A first schedule starts enabled; an existing one stays on or off as it was."""
    validate_cron(cron)  # a wrong cron fails before anything starts
    _change(ctx, cron=cron)


@app.command("enable")
@handled
def enable(ctx: typer.Context) -> None:
    """Turn scheduled syncs on."""
    _change(ctx, enabled=True)


@app.command("disable")
@handled
def disable(ctx: typer.Context) -> None:
    """Turn scheduled syncs off (the cron is kept)."""
    _change(ctx, enabled=False)


def _change(ctx: typer.Context, *, cron: str | None = None, enabled: bool | None = None) -> None:
    ws = start(ctx)
    changed = schedules.change(ws.runtime, ws.queue(), ws.account_id, cron=cron, enabled=enabled)
    output.schedule(changed.schedule, output.MIRROR_NOTES[changed.mirror])

"""`garminsync notify test|show`: send a test notification; where notifications go, the last ones."""

from __future__ import annotations

import typer

from shared.usecases import notify as notifications

from .. import output, output_notify
from ..bootstrap import start
from ..exit_codes import handled
from ..options import AsJson

app = typer.Typer(
    help="Notifications (Apprise URLs in GARMINSYNC_NOTIFY_URLS): test them, see the last ones.",
    no_args_is_help=True,
)


@app.command("test")
@handled
def test(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Send one test notification now; exit 5 when no URL is set or it was not delivered."""
    ws = start(ctx)
    sent = notifications.send_test(ws.runtime, ws.account_id)
    if as_json:
        output.print_json(sent)
    else:
        output.out.print(f"Test notification sent to {output.safe(sent['targets'])}.")


@app.command("show")
@handled
def show(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Where the account's notifications go (scheme and host only), which events, the last deliveries."""
    ws = start(ctx)
    view = notifications.overview(ws.runtime, ws.account_id)
    if as_json:
        output.print_json(view)
        return
    output_notify.overview(view)
    output_notify.deliveries(view["recent"])

"""`garminsync status`: what the archive holds, the last sync, the login state. No network."""

from __future__ import annotations

import typer

from shared.reports import status_report

from .. import output, output_notify
from ..bootstrap import start
from ..exit_codes import handled
from ..options import AsJson


@handled
def status(ctx: typer.Context, as_json: AsJson = False) -> None:
    """What the archive holds, the last sync, the account's login state. No network."""
    ws = start(ctx)
    report = status_report(ws.runtime, ws.account_id)
    if as_json:
        output.print_json(report)
    else:
        output.status(report)
        output_notify.token_expiry(report["token_expiry"])
        output_notify.overview(report["notifications"])
        output_notify.last_failure(report["notifications"]["recent"])

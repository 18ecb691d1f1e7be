"""`garminsync stats [--by year|month|type]`: totals of the archive. No network."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from shared.usecases import stats as statistics

from .. import output, output_stats
from ..bootstrap import Options, start
from ..exit_codes import handled
from ..options import AsJson


@handled
def stats(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="year, month or type.")] = "year",
    account: Annotated[
        str | None, typer.Option(help="Which account (default: the global --account).", show_default=False)
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Count, distance, moving and elapsed time per year, month or activity type. No network."""
    if account is not None:
        ctx.obj = replace(ctx.find_object(Options) or Options(), account=account)
    ws = start(ctx)
    result = statistics.totals(ws.runtime, ws.account_id, by)
    if as_json:
        output.print_json({"account": ws.account_name, **result})
    else:
        output_stats.table(result)

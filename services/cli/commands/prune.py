"""`garminsync prune --deleted [--yes]`: remove what Garmin deleted, only when asked."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.errors import UsageError
from shared.usecases.prune import prune_deleted

from .. import output
from ..bootstrap import start
from ..exit_codes import handled
from ..options import AsJson


@handled
def prune(
    ctx: typer.Context,
    deleted: Annotated[
        bool, typer.Option("--deleted", help="Activities deleted on Garmin (found by `sync --full`).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Really delete their files and rows.")] = False,
    as_json: AsJson = False,
) -> None:
    """Remove activities deleted on Garmin from the archive; without --yes, only show them."""
    if not deleted:
        raise UsageError("say what to prune: --deleted (activities deleted on Garmin)")
    ws = start(ctx)
    pruned = prune_deleted(ws.runtime, ws.account_id, confirm=yes)
    output.pruned(pruned, as_json)

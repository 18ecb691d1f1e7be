"""`garminsync`: the command line (the console script runs `main`).

Global options go into `ctx.obj` (`bootstrap.Options`); each command lives
in `commands/`, parses its input, calls one use case (`shared.usecases`) and
renders the result (`output`). Without REDIS_URL the jobs run in this
process; with it, syncs and downloads go to the workers. `login` and `list`
(unless --offline) talk to Garmin from this process in either mode.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .bootstrap import Options, setup_logging
from .commands import (
    download,
    export,
    listing,
    login,
    notify,
    processes,
    prune,
    schedule,
    stats,
    status,
    sync,
    verify,
)

app = typer.Typer(
    name="garminsync",
    help="Keep a complete, verified archive of your Garmin Connect activities as FIT files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Full logs and tracebacks.")] = False,
    account: Annotated[str, typer.Option(help="Which account (default: the .env account).")] = "default",
) -> None:
    ctx.obj = Options(account=account, verbose=verbose)
    setup_logging(verbose)


app.command()(login.login)
app.command("list")(listing.list_activities)
app.command()(download.download)
app.command()(sync.sync)
app.command()(status.status)
app.command()(verify.verify)
app.command()(stats.stats)
app.command()(prune.prune)
app.command()(export.export)
app.add_typer(schedule.app, name="schedule")
app.add_typer(notify.app, name="notify")
app.command()(processes.worker)
app.command()(processes.beat)
app.command()(processes.web)
app.command()(processes.daemon)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

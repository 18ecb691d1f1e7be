"""`garminsync verify [--deep] [--repair]`: re-check every archived file; download the damaged again."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from shared.config import load_settings
from shared.storage import restrict_umask
from shared.usecases import manifest as archive_manifest
from shared.usecases import verify as verifying
from shared.verify import Problem, Tally

from .. import output
from ..bootstrap import global_options, start
from ..exit_codes import OK, PARTIAL, handled
from .download import show_downloads


@handled
def verify(
    ctx: typer.Context,
    deep: Annotated[
        bool,
        typer.Option(
            help="Also decode every FIT file with Garmin's FIT SDK and compare it with Garmin's summary."
        ),
    ] = False,
    repair: Annotated[bool, typer.Option(help="Re-download damaged, missing or wrong files.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Problems as JSON on stdout.")] = False,
    manifest: Annotated[
        bool, typer.Option("--manifest", help="Check the files against manifest.json alone: no database.")
    ] = False,
) -> None:
    """Re-check every archived file against its size, sha256 and FIT CRC (and, --deep, its content);
    write manifest.json."""
    if manifest:
        raise typer.Exit(verify_manifest(ctx, as_json))
    ws = start(ctx)
    verbose = global_options(ctx).verbose
    total = verifying.files_to_check(ws.runtime, ws.account_id)
    problems: list[Problem] = []
    tally = Tally() if deep else None
    began = time.monotonic()
    with output.bar(verbose) as progress:
        task = progress.add_task("Verifying (deep)" if deep else "Verifying", total=total)
        for item in verifying.check_archive(ws.runtime, ws.account_id, tally):
            if item is not None:
                problems.append(item)
            progress.advance(task)
    archive_manifest.write(ws.runtime)
    output.problems(total, problems, as_json, tally, time.monotonic() - began)
    if not problems:
        raise typer.Exit(OK)
    if not repair:
        again = "verify --deep --repair" if deep else "verify --repair"
        output.err.print(f"Run `garminsync {again}` to download them again.")
        raise typer.Exit(PARTIAL)
    with output.DownloadBar(verbose) as downloads:
        handed = verifying.repair(ws.runtime, ws.delivery(downloads), ws.account_id, problems)
    raise typer.Exit(show_downloads(handed, as_json=False))


def verify_manifest(ctx: typer.Context, as_json: bool) -> int:
    """`verify --manifest`: the files against manifest.json, without opening the database."""
    settings = load_settings()
    restrict_umask(settings.umask)
    checking = archive_manifest.check(settings)
    problems: list[Problem] = []
    with output.bar(global_options(ctx).verbose) as progress:
        task = progress.add_task("Checking", total=checking.total)
        for item in checking:
            if item is not None:
                problems.append(item)
            progress.advance(task)
    output.problems(checking.total, problems, as_json)
    return PARTIAL if problems else OK

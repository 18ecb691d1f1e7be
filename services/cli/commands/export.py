"""`garminsync export`: the catalogue as CSV, JSON or Parquet, for spreadsheets and notebooks."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from shared.errors import StorageError, UsageError
from shared.usecases import export as exporting

from .. import output
from ..bootstrap import start
from ..exit_codes import handled
from ..options import ActivityType, Since, Until, filters


@handled
def export(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="csv, json or parquet (parquet needs pyarrow).")
    ] = "csv",
    out: Annotated[str, typer.Option("--output", "-o", help="A file, or - for stdout.")] = "-",
    since: Since = None,
    until: Until = None,
    activity_type: ActivityType = None,
) -> None:
    """Write the catalogue (id, start, local start, type, name, distance, duration, file,
    sha256, state, formats) without asking Garmin anything."""
    chosen = filters(since, until, activity_type)
    fmt = fmt.lower()
    if fmt not in exporting.FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: choose {', '.join(exporting.FORMATS)}")
    ws = start(ctx)
    if out == "-":
        count = exporting.export(ws.runtime, ws.account_id, chosen, fmt, sys.stdout.buffer)
        sys.stdout.flush()
        output.err.print(f"{count} activities exported")
        return
    target = Path(out)
    partial = target.with_name(f".{target.name}.part")
    try:
        with partial.open("wb") as handle:
            count = exporting.export(ws.runtime, ws.account_id, chosen, fmt, handle)
        os.replace(partial, target)
    except OSError as exc:
        raise StorageError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    output.err.print(f"{count} activities exported to {output.safe(target)}")

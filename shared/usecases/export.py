"""Export the catalogue: every activity (filtered) as CSV, JSON or Parquet, streamed.

`garminsync export` and the dashboard's "Download CSV" both call this; rows
are read a batch at a time, so the size of the archive does not change the
memory it takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from shared.catalogue import catalogue_rows, csv_chunks, json_chunks, write_parquet
from shared.errors import UsageError
from shared.planning import Filters
from shared.runtime import Runtime

FORMATS = ("csv", "json", "parquet")
STREAMED = {"csv": csv_chunks, "json": json_chunks}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


def chunks(
    runtime: Runtime, account_id: int, filters: Filters, fmt: str, counted: list[int] | None = None
) -> Iterator[bytes]:
    """The catalogue as CSV or JSON, chunk by chunk (an HTTP response, a pipe); `counted`
    receives the number of activities once the last chunk is out."""
    if fmt not in STREAMED:
        raise UsageError(f"{fmt} cannot be streamed: choose csv or json")
    return STREAMED[fmt](_counting(runtime, account_id, filters, counted))


def _counting(
    runtime: Runtime, account_id: int, filters: Filters, counted: list[int] | None
) -> Iterator[dict[str, Any]]:
    count = 0
    for row in catalogue_rows(runtime.settings.database_url, account_id, filters):
        count += 1
        yield row
    if counted is not None:
        counted.append(count)


def export(runtime: Runtime, account_id: int, filters: Filters, fmt: str, out: BinaryIO) -> int:
    """Write the catalogue to `out` in `fmt` (csv, json, parquet); the number of activities."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: choose {', '.join(FORMATS)}")
    if fmt == "parquet":
        return write_parquet(catalogue_rows(runtime.settings.database_url, account_id, filters), out)
    counted: list[int] = []
    for chunk in chunks(runtime, account_id, filters, fmt, counted):
        out.write(chunk)
    return counted[0]

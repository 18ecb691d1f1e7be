"""The archive's catalogue as rows, and as CSV, JSON or Parquet, streamed.

Rows are read with `yield_per` (a server-side cursor on PostgreSQL, SQLite's
own cursor), a batch at a time, so 100,000 activities take the memory of one
batch. CSV is made safe for spreadsheets: a text cell that begins with `=`,
`+`, `-`, `@`, a tab or a carriage return would be read as a formula (names
come from users and from Garmin), so it gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import select

from shared.db import create_session
from shared.errors import ConfigError
from shared.extras import archived_formats
from shared.garmin_values import clean_json, finite
from shared.models import Activity, DownloadState
from shared.planning import Filters
from shared.reports import iso

COLUMNS = (
    "id",
    "start_time",
    "start_time_local",
    "type",
    "name",
    "distance_m",
    "duration_s",
    "file",
    "sha256",
    "state",
    "formats",
)
BATCH = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The cells that hold text from users or from Garmin (the others are numbers, times, hashes, states).
TEXT_COLUMNS = frozenset({"type", "name", "file", "formats"})
PARQUET_HINT = "the parquet format needs pyarrow: pip install 'garminsync[parquet]' (or pip install pyarrow)"


def catalogue_rows(
    db_url: str, account_id: int, filters: Filters, batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """One dict per activity (newest first), read `batch` rows at a time."""
    query = (
        select(
            Activity.id,
            Activity.start_time,
            Activity.start_time_local,
            Activity.activity_type,
            Activity.name,
            Activity.distance_m,
            Activity.duration_s,
            Activity.file_path,
            Activity.file_format,
            Activity.sha256,
            Activity.state,
        )
        .where(Activity.account_id == account_id, *filters.clauses())
        .order_by(Activity.start_time.desc(), Activity.id.desc())
    )
    with create_session(db_url) as session:
        # Core, not the ORM: plain tuples, a third of the time per row.
        result = session.connection().execution_options(yield_per=batch).execute(query)
        for rows in result.tuples().partitions():
            archived = {row[0]: row[8] if row[10] == DownloadState.DOWNLOADED else None for row in rows}
            formats = archived_formats(session, archived)
            for activity_id, start, local, kind, name, distance, duration, path, _fmt, sha256, state in rows:
                kept = archived[activity_id] is not None
                yield {
                    "id": activity_id,
                    "start_time": iso(start),
                    "start_time_local": local.isoformat() if local else None,
                    "type": kind,
                    "name": name,
                    "distance_m": finite(distance),
                    "duration_s": finite(duration),
                    "file": path if kept else None,
                    "sha256": sha256 if kept else None,
                    "state": state,
                    "formats": formats[activity_id],
                }


def spreadsheet_safe(value: Any) -> Any:
    """A text cell no spreadsheet reads as a formula; numbers and empty cells as they are."""
    if isinstance(value, list):
        value = ";".join(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_chunks(rows: Iterable[dict[str, Any]], every: int = 500) -> Iterator[bytes]:
    """CSV (UTF-8, header first) in chunks of `every` rows: for files, stdout and HTTP alike."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for count, row in enumerate(rows, 1):
        writer.writerow([spreadsheet_safe(row[c]) if c in TEXT_COLUMNS else row[c] for c in COLUMNS])
        if count % every == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def json_chunks(rows: Iterable[dict[str, Any]], every: int = 500) -> Iterator[bytes]:
    """One JSON array, an object per activity, written as it is read."""
    parts: list[str] = ["["]
    for count, row in enumerate(rows):
        parts.append(("," if count else "") + "\n" + json.dumps(clean_json(row), ensure_ascii=False))
        if len(parts) >= every:
            yield "".join(parts).encode()
            parts = []
    parts.append("\n]\n")
    yield "".join(parts).encode()


def write_parquet(rows: Iterable[dict[str, Any]], out: BinaryIO, batch: int = 10_000) -> int:
    """Parquet, one row group per `batch` rows; ConfigError without pyarrow (an optional extra)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(PARQUET_HINT) from None
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("start_time", pa.timestamp("s", tz="UTC")),
            ("start_time_local", pa.timestamp("s")),
            ("type", pa.string()),
            ("name", pa.string()),
            ("distance_m", pa.float64()),
            ("duration_s", pa.float64()),
            ("file", pa.string()),
            ("sha256", pa.string()),
            ("state", pa.string()),
            ("formats", pa.list_(pa.string())),
        ]
    )
    written = 0
    with pq.ParquetWriter(out, schema) as writer:
        pending: list[dict[str, Any]] = []
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                writer.write_table(pa.Table.from_pylist(_typed(pending), schema))
                written += len(pending)
                pending = []
        if pending or not written:
            writer.write_table(pa.Table.from_pylist(_typed(pending), schema))
            written += len(pending)
    return written


def _typed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Times back as datetimes, for Parquet's timestamp columns."""
    return [
        {
            **row,
            "start_time": datetime.fromisoformat(row["start_time"]) if row["start_time"] else None,
            "start_time_local": (
                datetime.fromisoformat(row["start_time_local"]) if row["start_time_local"] else None
            ),
        }
        for row in rows
    ]

"""`manifest.json`: every archived file with its size and hash, so the archive can be checked
without the database (`garminsync verify --manifest`, or `sha256sum -c`: README).

Written atomically in the data dir, streamed from the store (one entry per
line, never the whole list in memory), covering every account: originals,
GPX/TCX exports and sidecars. It is rewritten after a run that archived
something (embedded mode), by the dispatcher's housekeeping when files were
recorded since the last write (at most once a minute), and by `verify`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from shared.db import create_session
from shared.errors import StorageError
from shared.models import Account, Activity, ActivityFile, DownloadState
from shared.storage import Storage, sha256_hex
from shared.verify import Problem

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
BATCH = 2000


def manifest_entries(db_url: str, batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Every archived file: originals first, then the files beside them; by activity id."""
    originals = (
        select(
            Activity.file_path,
            Activity.file_size,
            Activity.sha256,
            Activity.id,
            Activity.file_format,
            Account.name,
        )
        .join(Account, Account.id == Activity.account_id)
        .where(Activity.state == DownloadState.DOWNLOADED, Activity.file_path.is_not(None))
        .order_by(Activity.id)
    )
    beside = (
        select(
            ActivityFile.path,
            ActivityFile.size,
            ActivityFile.sha256,
            ActivityFile.activity_id,
            ActivityFile.format,
            Account.name,
        )
        .join(Activity, Activity.id == ActivityFile.activity_id)
        .join(Account, Account.id == Activity.account_id)
        .where(ActivityFile.path.is_not(None), ActivityFile.sha256.is_not(None))
        .order_by(ActivityFile.activity_id, ActivityFile.format)
    )
    with create_session(db_url) as session:
        connection = session.connection().execution_options(yield_per=batch)  # Core: plain tuples
        for query in (originals, beside):
            for path, size, sha256, activity_id, fmt, account in connection.execute(query).tuples():
                yield {
                    "path": path,
                    "size": size,
                    "sha256": sha256,
                    "activity_id": activity_id,
                    "format": fmt,
                    "account": account,
                }


def _chunks(db_url: str, written_at: datetime) -> Iterator[bytes]:
    head = {
        "generator": "garminsync",
        "written_at": written_at.isoformat(timespec="seconds"),
        "hash": "sha256",
    }
    yield (json.dumps(head)[:-1] + ', "files": [').encode()
    lines: list[str] = []
    for count, entry in enumerate(manifest_entries(db_url)):
        lines.append(("," if count else "") + "\n" + json.dumps(entry, ensure_ascii=False))
        if len(lines) >= BATCH:
            yield "".join(lines).encode()
            lines = []
    yield ("".join(lines) + "\n]}\n").encode()


def write_manifest(db_url: str, storage: Storage) -> int:
    """Write `<data dir>/manifest.json` from the store; its size in bytes.

    Its modification time is when the reading began, so a file recorded while it
    was written counts as newer (`refresh_manifest` writes it again).
    """
    began = datetime.now(UTC)
    stored = storage.write_stream(MANIFEST, _chunks(db_url, began))
    os.utime(storage.absolute(MANIFEST), (began.timestamp(), began.timestamp()))
    return stored.size


def last_recorded(db_url: str) -> datetime | None:
    """When the newest file was recorded (an original downloaded, an export or sidecar written)."""
    with create_session(db_url) as session:
        times = [
            session.scalar(select(func.max(Activity.downloaded_at))),
            session.scalar(select(func.max(ActivityFile.fetched_at))),
        ]
    known = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in times if moment]
    return max(known) if known else None


def refresh_manifest(db_url: str, storage: Storage) -> bool:
    """Rewrite the manifest if a file was recorded after it was written; whether it was.

    A failure is logged, not raised: the archive is sound without it, and the next run writes it.
    """
    path = storage.absolute(MANIFEST)
    try:
        newest = last_recorded(db_url)
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC) if path.exists() else None
        if newest is None or (written is not None and written > newest):
            return False
        write_manifest(db_url, storage)
    except (StorageError, OSError) as exc:
        log.warning("the manifest was not written: %s", exc)
        return False
    return True


def read_manifest(storage: Storage) -> list[dict[str, Any]]:
    """The manifest's entries; StorageError when it is missing or unreadable."""
    path = storage.absolute(MANIFEST)
    try:
        with path.open("rb") as handle:
            files = json.load(handle)["files"]
    except FileNotFoundError:
        raise StorageError(f"no manifest at {path}: run `garminsync verify` to write one") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"the manifest {path} is unreadable ({type(exc).__name__})") from None
    if not isinstance(files, list):
        raise StorageError(f"the manifest {path} has no list of files")
    return files


def check_manifest(storage: Storage, entries: list[dict[str, Any]]) -> Iterator[Problem | None]:
    """None per file that matches its entry, a Problem per one that does not: no database."""
    root = os.path.realpath(storage.data_dir)
    for entry in entries:
        path = str(entry.get("path") or "")
        activity_id = int(entry.get("activity_id") or 0)
        full = os.path.realpath(storage.absolute(path))
        if not path or os.path.commonpath([root, full]) != root:
            yield Problem(activity_id, path, "the entry's path is outside the data directory")
            continue
        data = storage.read(path)
        if data is None:
            yield Problem(activity_id, path, "file is missing")
        elif len(data) != entry.get("size"):
            yield Problem(
                activity_id, path, f"size {len(data)} differs from the manifest's {entry.get('size')}"
            )
        elif sha256_hex(data) != entry.get("sha256"):
            yield Problem(activity_id, path, "sha256 differs from the manifest's")
        else:
            yield None

"""Where archived files go and how they get there.

Names come from a layout template with the activity id and a filesystem-safe
timestamp; an activity's name is only ever used after sanitising. Files are
written to a temporary name in the same directory, fsynced and renamed, so no
partial file ever carries a final name. Temporary names are hidden and end in
`.part`, never in an archive extension, so tools that import `*.fit` from the
archive never take one; what a killed writer left is removed when the activity
is archived, by `verify`, and when a worker starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from shared.errors import StorageError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
TMP_PREFIX = ".partial-"
TMP_SUFFIX = ".part"


def sanitize(text: str | None, max_len: int = 60) -> str:
    """ASCII letters, digits, `.`, `_`, `-` only; no leading dots; never empty."""
    normalized = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", normalized).strip("._-")[:max_len].strip("._-")
    return cleaned or "activity"


def safe_timestamp(moment: datetime) -> str:
    """`2026-01-08T14-10-21Z`: sortable, no colons (Windows, SMB shares)."""
    return moment.strftime("%Y-%m-%dT%H-%M-%SZ")


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    size: int
    sha256: str


class Storage:
    """The archive under `<data dir>`."""

    def __init__(self, data_dir: Path, layout: str) -> None:
        self.data_dir = data_dir
        self.layout = layout

    def relative_path(
        self,
        activity_id: int,
        start_utc: datetime,
        ext: str,
        activity_type: str | None = None,
        name: str | None = None,
    ) -> str:
        rel = self.layout.format(
            id=int(activity_id),
            timestamp=safe_timestamp(start_utc),
            type=sanitize(activity_type, 32),
            year=f"{start_utc.year:04d}",
            month=f"{start_utc.month:02d}",
            name=sanitize(name),
            ext=sanitize(ext, 8),
        )
        path = Path(rel)
        if path.is_absolute() or ".." in path.parts:
            raise StorageError(f"layout produced an unsafe path: {rel!r}")
        return path.as_posix()

    def absolute(self, relative_path: str) -> Path:
        return self.data_dir / relative_path

    def check_writable(self) -> None:
        """Fail early with a clear message instead of at the first download."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / f"{TMP_PREFIX}probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"the data directory {self.data_dir} is not writable: {exc.strerror}"
            ) from None

    def write_atomic(self, relative_path: str, data: bytes) -> StoredFile:
        """Write via temp file + fsync + rename; return size and sha256."""
        return self.write_stream(relative_path, (data,))

    def write_stream(self, relative_path: str, chunks: Iterable[bytes]) -> StoredFile:
        """`write_atomic` for content made as it is written (the manifest): never whole in memory."""
        target = self.absolute(relative_path)
        # Host and pid in the name let a restarted worker remove what a killed one left.
        writer = f"{TMP_PREFIX}{_HOST}.{os.getpid()}.{secrets.token_hex(4)}"
        tmp = target.with_name(f"{writer}.{target.name}{TMP_SUFFIX}")
        digest, size = hashlib.sha256(), 0
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            _remove_leftovers(target.parent.glob(f"{TMP_PREFIX}*.{target.name}*"), time.time() - 3600)
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(f"cannot write {relative_path}: {exc.strerror}") from None
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return StoredFile(relative_path, size, digest.hexdigest())

    def read(self, relative_path: str) -> bytes | None:
        try:
            return self.absolute(relative_path).read_bytes()
        except OSError:
            return None

    def remove(self, relative_path: str) -> bool:
        """Delete an archived file (one replaced under a new name, or pruned); False if absent."""
        try:
            self.absolute(relative_path).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot remove {relative_path}: {exc.strerror}") from None
        return True

    def remove_partials(self, older_than_s: float = 3600) -> int:
        """Delete temp files a killed process left behind; return how many.

        Only old ones: a younger temp file may belong to a download in flight.
        """
        if not self.data_dir.exists():
            return 0
        return _remove_leftovers(self.data_dir.rglob(f"{TMP_PREFIX}*"), time.time() - older_than_s)


_HOST = sanitize(socket.gethostname(), 64).replace(".", "_")


def restrict_umask(mask: int) -> int:
    """Add `mask` (GARMINSYNC_UMASK, 077 by default) to the process umask; return the result.

    Called where every process starts, so the data dir (0700), the database with its
    -wal and -shm (0600: SQLite gives them the database's mode) and every archived
    file (0600) are private, with no file-by-file chmod to forget. The user's own
    umask only ever adds to it; children (Celery's pool, gunicorn's workers) inherit it.
    """
    effective = _current_umask() | mask
    os.umask(effective)
    return effective


def _current_umask() -> int:
    """Read without setting it to 0 first (a thread creating a file meanwhile would get 0666)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    current = os.umask(0o077)
    os.umask(current)
    return current


def _remove_leftovers(paths: Iterable[Path], cutoff: float) -> int:
    """Delete temp files older than `cutoff` or whose writer died; never one still being written."""
    removed = 0
    for path in paths:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff or _writer_is_dead(path.name):
                path.unlink()
                removed += 1
    return removed


def _writer_is_dead(name: str) -> bool:
    """A temp file of this host whose writing process no longer exists."""
    parts = name[len(TMP_PREFIX) :].split(".", 2)
    if len(parts) < 3 or parts[0] != _HOST or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

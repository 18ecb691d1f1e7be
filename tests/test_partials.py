"""A writer killed mid-download: its temp file never looks like an archive file,
and it is removed once the activity is archived, by `verify` and at worker start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from shared.storage import TMP_PREFIX, Storage
from tests.conftest import Cli

LAYOUT = "fit/activity_{id}_{timestamp}.{ext}"
START = datetime(2026, 1, 8, 14, 10, 21, tzinfo=UTC)
# A process that dies (SIGKILL) after writing and fsyncing, just before the rename.
KILLED_WRITER = """
import os, signal, sys
from datetime import datetime, UTC
from pathlib import Path
from shared.storage import Storage
storage = Storage(Path(sys.argv[1]), sys.argv[2])
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
start = datetime(2026, 1, 8, 14, 10, 21, tzinfo=UTC)
storage.write_atomic(storage.relative_path(int(sys.argv[3]), start, "fit"), b"half a file")
"""


def kill_a_writer(data_dir: Path, activity_id: int) -> Path:
    """Leave the temp file a `kill -9` leaves; return it."""
    result = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(data_dir), LAYOUT, str(activity_id)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == -9, result.stderr
    (leftover,) = [p for p in data_dir.rglob("*") if p.name.startswith(TMP_PREFIX)]
    return leftover


def test_a_killed_writer_leaves_nothing_that_looks_like_a_fit_file(tmp_path: Path) -> None:
    leftover = kill_a_writer(tmp_path, 42)
    assert leftover.name.endswith(".fit.part")
    assert list(tmp_path.rglob("*.fit")) == []  # `find -name '*.fit'` takes nothing


def test_archiving_the_activity_removes_what_the_killed_writer_left(tmp_path: Path) -> None:
    leftover = kill_a_writer(tmp_path, 42)
    storage = Storage(tmp_path, LAYOUT)
    other = tmp_path / "fit" / f"{TMP_PREFIX}elsewhere.1.ab.activity_43_x.fit.part"
    other.write_bytes(b"another activity's, from another host: not ours to judge")
    stored = storage.write_atomic(storage.relative_path(42, START, "fit"), b"the whole file")
    assert not leftover.exists() and other.exists()
    assert [p.name for p in (tmp_path / "fit").glob("*.fit")] == [Path(stored.relative_path).name]


def test_verify_removes_leftovers_of_killed_downloads(cli: Cli) -> None:
    assert cli("download", "--missing").exit_code == 0
    dead = kill_a_writer(cli.data_dir, 77)
    old_style = cli.data_dir / "fit" / f"{TMP_PREFIX}otherhost.1.ab.activity_78_2026-01-01T00-00-00Z.fit"
    old_style.write_bytes(b"left by an older release, on another machine, long ago")
    os.utime(old_style, (time.time() - 7200, time.time() - 7200))
    result = cli.subprocess("verify")
    assert result.returncode == 0, result.stderr
    assert "removed 2 partial file(s)" in result.stderr
    assert not dead.exists() and not old_style.exists()

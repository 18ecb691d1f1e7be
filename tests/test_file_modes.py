"""The archive is private: data dir 0700, database (with -wal and -shm) and files 0600.

Run as a shell would, with the common umask 022, so what is checked is what
the program itself makes of it; GARMINSYNC_UMASK widens, a stricter umask stays.
"""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GARMINSYNC, Cli, clean_environ


def run(cli: Cli, *args: str, umask: str = "022", **env: str) -> subprocess.CompletedProcess[str]:
    argv = ["sh", "-c", f'umask {umask} && exec "$0" "$@"', GARMINSYNC, *args]
    return subprocess.run(
        argv, env={**clean_environ(), **cli.env, **env}, capture_output=True, text=True, timeout=120
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_after_a_download(cli: Cli, **env: str) -> dict[str, int]:
    result = run(cli, "download", "--missing", **env)
    assert result.returncode == 0, result.stderr
    data = cli.data_dir
    with sqlite3.connect(data / "garmin.db") as conn:  # -wal and -shm exist while it is open
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("UPDATE accounts SET name = name")
        found = {name: mode(data / name) for name in ("garmin.db", "garmin.db-wal", "garmin.db-shm")}
    fits = list((data / "fit").glob("*.fit"))
    assert fits
    found.update(
        {"data dir": mode(data), "fit dir": mode(data / "fit"), "secret.key": mode(data / "secret.key")}
    )
    found["fit files"] = max(mode(path) for path in fits) | min(mode(path) for path in fits)
    return found


def test_a_fresh_archive_is_private(cli: Cli) -> None:
    found = modes_after_a_download(cli)
    assert found == {
        "garmin.db": 0o600,
        "garmin.db-wal": 0o600,
        "garmin.db-shm": 0o600,
        "data dir": 0o700,
        "fit dir": 0o700,
        "secret.key": 0o600,
        "fit files": 0o600,
    }


def test_the_setting_can_share_it_with_the_group(cli: Cli) -> None:
    found = modes_after_a_download(cli, GARMINSYNC_UMASK="027")
    assert found["data dir"] == found["fit dir"] == 0o750
    assert found["garmin.db"] == found["garmin.db-wal"] == found["fit files"] == 0o640
    assert found["secret.key"] == 0o600  # the key stays the owner's


def test_a_stricter_umask_of_the_user_stays(cli: Cli) -> None:
    result = run(cli, "download", "--missing", umask="077", GARMINSYNC_UMASK="022")
    assert result.returncode == 0, result.stderr
    assert mode(cli.data_dir) == 0o700 and mode(cli.data_dir / "garmin.db") == 0o600


@pytest.mark.parametrize("value", ["0600", "ugly", "1077"])
def test_a_umask_that_locks_out_the_owner_is_refused(cli: Cli, value: str) -> None:
    result = run(cli, "status", GARMINSYNC_UMASK=value)
    assert result.returncode == 5 and "GARMINSYNC_UMASK" in result.stderr


def test_the_container_migration_creates_a_private_database(cli: Cli) -> None:
    """In compose, `migrate` is the first process to create garmin.db: the umask applies there too."""
    import sys

    argv = ["sh", "-c", f'umask 022 && exec "{sys.executable}" -m services.launcher migrate']
    result = subprocess.run(
        argv, env={**clean_environ(), **cli.env}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert mode(cli.data_dir) == 0o700 and mode(cli.data_dir / "garmin.db") == 0o600

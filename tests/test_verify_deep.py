"""`verify --deep`: Garmin's FIT SDK decodes every file and compares it with Garmin's summary.

Embedded mode, the real garminconnect client against the simulator, whose
faults serve files with a sound CRC but the wrong content.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.simulator.fit_encoder import DEFECTS
from services.simulator.server import SimulatorServer
from shared.fit import check_fit, fit_crc
from shared.fit_deep import CHECKS, Summary, deep_check
from tests.conftest import Cli, downloads_requested, fixture_file

# The crafted file of each simulator fault and the check that must catch it.
CAUGHT_BY = {
    "other_activity": "start",
    "course_file": "file_id",
    "file_id_late": "file_id",
    "no_activity": "activity",
    "session_count": "sessions",
    "wrong_start": "start",
    "wrong_duration": "duration",
    "few_records": "records",
}


def rows(cli: Cli, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        return conn.execute(sql, params).fetchall()


def deep_report(cli: Cli, *extra: str) -> tuple[int, dict]:
    result = cli("verify", "--deep", "--json", *extra)
    return result.exit_code, json.loads(result.stdout)


def test_each_wrong_file_fails_its_check_and_repair_replaces_it(cli: Cli, simulator: SimulatorServer) -> None:
    assert set(CAUGHT_BY) == {"other_activity", *DEFECTS}
    fit_ids = simulator.state.ids_by_kind("fit")
    victims = dict(zip(CAUGHT_BY, fit_ids[1:], strict=False))  # fit_ids[0] is what other_activity serves
    simulator.state.set_faults({**{fault: [i] for fault, i in victims.items()}, "count": 1})
    assert cli("download", "--missing").exit_code == 0
    assert cli("verify").exit_code == 0  # every CRC is sound: only decoding tells

    code, report = deep_report(cli)
    assert code == 4
    found = {p["activity_id"]: p["check"] for p in report["problems"]}
    assert found == {i: CAUGHT_BY[fault] for fault, i in victims.items()}
    fit_files = len(rows(cli, "SELECT id FROM activities WHERE state='downloaded' AND file_format='fit'"))
    deep = report["deep"]
    assert deep["fit_files"] == fit_files
    assert deep["checks"]["decodes"] == {"passed": fit_files, "failed": 0, "skipped": 0}
    for name in CHECKS:
        counts = deep["checks"][name]
        assert sum(counts.values()) == fit_files
        assert counts["failed"] >= sum(check == name for check in CAUGHT_BY.values())
    text = cli("verify", "--deep")
    assert text.exit_code == 4
    assert "Deep checks of" in text.stdout and "records" in text.stdout
    assert "the File Id says type course, not activity" in text.stdout
    assert "garminsync verify --deep --repair" in text.stderr  # a plain repair would not see them

    simulator.state.reset_stats()
    repaired = cli("verify", "--deep", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert sorted(downloads_requested(simulator)) == sorted(victims.values())
    code, report = deep_report(cli)
    assert code == 0 and report["problems"] == []
    assert all(report["deep"]["checks"][name]["failed"] == 0 for name in CHECKS)


# Garmin's summary of each real recording (its list's startTimeGMT, duration, elapsedDuration).
REAL_FILES = {
    "fitparse_activity-small-fenix2-run.fit": ("2015-08-15 14:45:08", 2832.44, 2832.0),
    "fitparse_garmin-fenix-5-run.fit": ("2017-06-11 14:34:09", 56.887, 56.887),
    "fitparse_sample-activity.fit": ("2011-06-26 21:18:39", 10699.36, 11741.57),
    "garth_12129115726_ACTIVITY.fit": ("2023-09-29 00:10:57", 9.676, 9.676),
}


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_device_files_pass_and_a_wrong_summary_fails(name: str) -> None:
    data = fixture_file("garmin", "fit", name).read_bytes()
    start, duration, elapsed = REAL_FILES[name]
    start_utc = datetime.fromisoformat(start).replace(tzinfo=UTC)
    summary_json = json.dumps({"elapsedDuration": elapsed})
    result = deep_check(data, Summary.of(start_utc, duration, summary_json))
    assert result.ok, result.reason
    assert set(result.outcomes.values()) == {"passed"}
    later = deep_check(data, Summary.of(start_utc + timedelta(minutes=10), duration, summary_json))
    assert later.check == "start"
    longer = deep_check(data, Summary.of(start_utc, duration + 600, json.dumps({})))
    assert longer.check == "duration"


def _fit_file(body: bytes) -> bytes:
    """A FIT file whose header and CRC are sound around any body."""
    header = struct.pack("<BBHI4s", 14, 0x20, 2132, len(body), b".FIT")
    header += struct.pack("<H", fit_crc(header))
    return header + body + struct.pack("<H", fit_crc(header + body))


HOSTILE = {
    "random body": _fit_file(random.Random(1).randbytes(4000)),
    "a message before any definition": _fit_file(b"\x00" * 64),
    "a definition of 255 fields": _fit_file(bytes([0x40, 0, 0, 0, 0, 255]) + b"\x01\x04\x86" * 10),
    "a compressed timestamp": _fit_file(b"\x80" + b"\x00" * 31),
    "no message": _fit_file(b""),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_get_a_reason_never_an_exception(name: str) -> None:
    data = HOSTILE[name]
    assert check_fit(data).ok  # the CRC cannot tell
    result = deep_check(data, Summary(None, None, None))
    assert not result.ok
    assert result.check in ("decodes", "file_id")
    assert result.reason and "\n" not in result.reason


def test_undecodable_archived_file_is_one_line_in_verify(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    [(victim, path)] = rows(
        cli, "SELECT id, file_path FROM activities WHERE file_format='fit' ORDER BY id LIMIT 1"
    )
    hostile = HOSTILE["random body"]
    Path(cli.data_dir / path).write_bytes(hostile)
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        conn.execute(
            "UPDATE activities SET file_size=?, sha256=? WHERE id=?",
            (len(hostile), hashlib.sha256(hostile).hexdigest(), victim),
        )
    result = cli.subprocess("verify", "--deep")
    assert result.returncode == 4
    assert "Traceback" not in result.stderr + result.stdout
    [line] = [line for line in result.stdout.splitlines() if str(victim) in line]
    assert "decodes: the FIT SDK" in line

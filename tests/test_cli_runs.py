"""How an embedded run ends, as a user sees it: Ctrl-C, deferred work, files Garmin lacks, filters.

Embedded mode (no Redis): `garminsync download --missing` runs the jobs in
its own process against the simulator, over real HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from services.simulator.server import SimulatorServer
from shared.storage import TMP_PREFIX
from tests.conftest import GARMINSYNC, Cli, clean_environ, downloads_requested, filtered_set, sim_env
from tests.stack import wait_until


def states(cli: Cli) -> dict[int, str]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        return dict(conn.execute("SELECT id, state FROM activities").fetchall())


def count_while_running(cli: Cli, state: str) -> int:
    """Read-only, and 0 until the running command has created its schema."""
    try:
        with sqlite3.connect(f"file:{cli.data_dir / 'garmin.db'}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM activities WHERE state=?", (state,)).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def last_run(cli: Cli) -> tuple[str, str | None]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        status, message = conn.execute("SELECT status, message FROM sync_runs ORDER BY id DESC").fetchone()
    return status, message


def with_file(sim: SimulatorServer) -> set[int]:
    return {a.activity_id for a in sim.state.activities() if a.storable and a.kind != "manual"}


def test_ctrl_c_hands_the_claims_back_and_exits_130(tmp_path: Path) -> None:
    with SimulatorServer(activities=30, seed=8, latency_ms=150) as sim:
        cli = Cli(sim_env(sim, tmp_path / "data", GARMINSYNC_RATE_LIMIT="20/second"), tmp_path / "data")
        # A terminal's Ctrl-C reaches the whole foreground process group.
        proc = subprocess.Popen(
            [GARMINSYNC, "download", "--missing"],
            env={**clean_environ(), **cli.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            wait_until(lambda: count_while_running(cli, "downloaded") >= 3, 60, what="a few downloads")
            os.killpg(proc.pid, signal.SIGINT)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, err
        assert (
            err.strip().splitlines()[-1]
            == "error: interrupted; nothing is lost, run the command again to continue"
        )
        assert "Traceback" not in err
        left = states(cli)
        assert 3 <= list(left.values()).count("downloaded") < len(with_file(sim))  # stopped midway
        assert set(left.values()) <= {"downloaded", "no_file", "missing"}  # no claim left behind
        assert last_run(cli) == ("error", "interrupted")
        assert [p for p in cli.data_dir.rglob("*") if p.name.startswith(TMP_PREFIX)] == []
        # The next run takes the rest.
        again = cli("download", "--missing", "--json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["downloaded"] == len(with_file(sim)) - list(left.values()).count(
            "downloaded"
        )
        assert {i for i, s in states(cli).items() if s == "downloaded"} == with_file(sim)


def test_deferred_work_is_exit_4_and_handed_back(
    cli: Cli, simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activity Garmin keeps answering 429 for is left for the next run, not failed."""
    import shared.inprocess

    monkeypatch.setattr(shared.inprocess, "MAX_RETRIES", 2)  # patience of 12 cool-downs, shortened
    stubborn = simulator.state.ids_by_kind("fit")[0]
    simulator.state.set_faults(
        {"match": "download", "status": 429, "count": -1, "retry_after": 1, "ids": [stubborn]}
    )
    result = cli("download", "--missing", "--json")
    assert result.exit_code == 4, result.output  # partial: the rest is archived
    summary = json.loads(result.stdout)
    assert summary["deferred"] == 1 and summary["failed"] == 0
    assert summary["downloaded"] == len(with_file(simulator)) - 1
    assert states(cli)[stubborn] == "missing"  # handed back, attempts untouched by the 429s
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        assert conn.execute("SELECT attempts FROM activities WHERE id=?", (stubborn,)).fetchone() == (0,)
    simulator.state.clear_faults()
    again = cli("download", "--missing", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["downloaded"] == 1
    assert states(cli)[stubborn] == "downloaded"


def test_a_5xx_on_a_manual_activity_is_no_file(tmp_path: Path) -> None:
    """Garmin sometimes answers 500 instead of 404 for an activity that has no file."""
    with SimulatorServer(activities=20, seed=4, manual_ratio=0.1, manual_status=500) as sim:
        cli = Cli(sim_env(sim, tmp_path / "data"), tmp_path / "data")
        manual = set(sim.state.ids_by_kind("manual"))
        assert len(manual) == 2
        result = cli("download", "--missing", "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["no_file"] == 2 and summary["failed"] == 0 and summary["deferred"] == 0
        assert {i for i, s in states(cli).items() if s == "no_file"} == manual
        downloads = [r for r in sim.state.stats()["requests"] if r[1] == "download"]
        tried = [int(r[2].rsplit("/", 1)[1]) for r in downloads if r[3] == 500]
        assert sorted(tried) == sorted(manual)  # one request each, no retries
        with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
            errors = [
                row[0] for row in conn.execute("SELECT last_error FROM activities WHERE state='no_file'")
            ]
        assert all("manual activity without a file" in (e or "") for e in errors), errors


def test_download_missing_with_filters_fetches_exactly_that_set(cli: Cli, simulator: SimulatorServer) -> None:
    chosen = filtered_set(simulator)
    assert len(chosen.with_file) >= 2
    result = cli("download", "--missing", *chosen.options, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["downloaded"] == len(chosen.with_file)
    assert sorted(downloads_requested(simulator)) == sorted(chosen.matching)  # nothing else was asked for
    assert {i for i, s in states(cli).items() if s == "downloaded"} == chosen.with_file
    assert len(states(cli)) == sum(
        a.storable for a in simulator.state.activities()
    )  # the whole list refreshed


def test_status_says_how_much_waits_for_the_budget(cli: Cli) -> None:
    """A backlog left behind (workers stopped, say): status tells its size and time at the budget."""
    assert cli("list", GARMINSYNC_RATE_LIMIT="30/minute").exit_code == 0
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        conn.execute("UPDATE activities SET state = 'queued' WHERE manual = 0")
        queued = conn.execute("SELECT count(*) FROM activities WHERE state = 'queued'").fetchone()[0]
    shown = cli("status", GARMINSYNC_RATE_LIMIT="30/minute")
    assert shown.exit_code == 0, shown.output
    seconds = queued * 2  # 30 a minute; under 90 s it reads in seconds
    assert f"Backlog {queued} to download at 30/minute (about {seconds} s)" in shown.output, shown.output
    assert f"{queued} waiting for the budget" in shown.output

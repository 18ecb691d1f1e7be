"""The archive pipeline end to end, embedded mode: real garminconnect, real HTTP, the simulator."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from garmin_fit_sdk import Decoder, Stream

from services.simulator.server import SimulatorServer
from services.simulator.stats import max_requests_in_window
from shared.fit import check_fit
from shared.storage import TMP_PREFIX
from tests.conftest import Cli, assert_no_secret, token_values


def rows(cli: Cli, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        return conn.execute(sql, params).fetchall()


def states(cli: Cli) -> dict[int, str]:
    return dict(rows(cli, "SELECT id, state FROM activities"))


def expected_kinds(sim: SimulatorServer) -> dict[int, str]:
    """What a sync should store: all but the catalogue's activity whose id exceeds 64 bits."""
    return {a.activity_id: a.kind for a in sim.state.activities() if a.storable}


def assert_archive_sound(cli: Cli) -> None:
    """No partial file anywhere; every file under a final name is what the store says."""
    leftovers = [p for p in cli.data_dir.rglob("*") if p.name.startswith(TMP_PREFIX)]
    assert leftovers == []
    for activity_id, path, fmt, size in rows(
        cli, "SELECT id, file_path, file_format, file_size FROM activities WHERE state='downloaded'"
    ):
        data = (cli.data_dir / path).read_bytes()
        assert len(data) == size
        assert path.endswith(f".{fmt}")
        assert str(activity_id) in path
        if fmt == "fit":
            assert check_fit(data).ok, path
    for path in (cli.data_dir / "fit").glob("*.fit"):
        assert check_fit(path.read_bytes()).ok, f"{path} is under a final name but not valid"


def test_full_archive_then_rerun_costs_one_request(cli: Cli, simulator: SimulatorServer) -> None:
    result = cli("download", "--missing", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    kinds = expected_kinds(simulator)
    with_file = [i for i, k in kinds.items() if k != "manual"]
    assert summary["downloaded"] == len(with_file)
    assert summary["no_file"] == len(kinds) - len(with_file)
    assert summary["failed"] == 0

    got = dict(rows(cli, "SELECT id, file_format FROM activities WHERE state='downloaded'"))
    assert set(got) == set(with_file)
    for activity_id, kind in kinds.items():
        if kind == "manual":
            assert states(cli)[activity_id] == "no_file"
        else:
            assert got[activity_id] == kind  # GPX/TCX uploads keep their true format
    # Every FIT decodes with Garmin's own SDK.
    for path in (cli.data_dir / "fit").glob("*.fit"):
        messages, errors = Decoder(Stream.from_byte_array(path.read_bytes())).read()
        assert errors == [] and messages["record_mesgs"], path
    assert_archive_sound(cli)

    simulator.state.reset_stats()
    again = cli("download", "--missing", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["downloaded"] == 0
    stats = simulator.state.stats()
    assert stats["by_kind"]["list"] == 1
    assert stats["total"] == 1  # one list request, nothing else


def test_new_activities_are_the_only_ones_fetched(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    new_ids = simulator.state.add_activities(3, kind="fit")
    simulator.state.reset_stats()
    result = cli("sync", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["downloaded"] == 3
    downloads = [r for r in simulator.state.stats()["requests"] if r[1] == "download"]
    assert sorted(int(r[2].rsplit("/", 1)[1]) for r in downloads) == sorted(new_ids)
    assert simulator.state.stats()["by_kind"]["list"] == 1


def test_interrupted_first_sync_is_completed_by_the_next(tmp_path: Path) -> None:
    """An incremental sync stops at known activities only once the history is complete."""
    from tests.conftest import sim_env

    with SimulatorServer(activities=25, seed=3) as sim:
        cli = Cli(sim_env(sim, tmp_path / "d", GARMINSYNC_PAGE_SIZE="10"), tmp_path / "d")
        # Rules fire in order: the first list request passes (a delay-only rule), the second is a 503.
        sim.state.set_faults(
            [{"match": "list", "delay_ms": 1, "count": 1}, {"match": "list", "status": 503, "count": 1}]
        )
        first = cli("list", "--all")
        assert first.exit_code == 6  # Garmin unavailable: try again later
        assert "Garmin failed on the activity list (HTTP 503)" in first.stderr
        assert sim.state.stats()["by_kind"]["list"] == 2 and sim.state.stats()["faults_injected"] == 2
        assert len(states(cli)) == 10  # the first page is kept
        assert cli("download", "--missing").exit_code == 0
        assert len(states(cli)) == 25
        assert set(states(cli).values()) <= {"downloaded", "no_file"}
        sim.state.reset_stats()
        assert cli("sync").exit_code == 0
        assert sim.state.stats()["by_kind"]["list"] == 1  # now complete: one request


def test_full_sync_notices_deleted_activities(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("sync").exit_code == 0
    gone = simulator.state.activity_ids()[0]
    simulator.state.delete_activity(gone)
    assert cli("sync").exit_code == 0
    assert rows(cli, "SELECT deleted_upstream FROM activities WHERE id=?", gone) == [(0,)]
    result = cli("sync", "--full", "--json")
    assert result.exit_code == 0
    assert rows(cli, "SELECT deleted_upstream FROM activities WHERE id=?", gone) == [(1,)]
    assert rows(cli, "SELECT deleted FROM sync_runs ORDER BY id DESC LIMIT 1") == [(1,)]


@pytest.mark.parametrize(
    "fault",
    [
        {"match": "download", "status": 500, "count": 4},
        {"match": "download", "status": 503, "count": 2, "body": "html"},
        {"broken_zip": "FIRST3", "count": 1},
        {"corrupt_fit": "FIRST3", "count": 2},
    ],
    ids=["500", "503-html", "broken-zip", "corrupt-fit"],
)
def test_transient_faults_end_archived_and_valid(cli: Cli, simulator: SimulatorServer, fault: dict) -> None:
    if fault.get("broken_zip") == "FIRST3" or fault.get("corrupt_fit") == "FIRST3":
        key = "broken_zip" if "broken_zip" in fault else "corrupt_fit"
        fault = {key: simulator.state.ids_by_kind("fit")[:3], "count": fault["count"]}
    simulator.state.set_faults(fault)
    result = cli("download", "--missing", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["failed"] == 0
    assert simulator.state.stats()["faults_injected"] >= 1
    assert all(s in ("downloaded", "no_file") for s in states(cli).values())
    assert_archive_sound(cli)


def test_persistently_corrupt_fit_fails_clearly_and_is_never_stored(
    cli: Cli, simulator: SimulatorServer
) -> None:
    bad = simulator.state.ids_by_kind("fit")[0]
    simulator.state.set_faults({"corrupt_fit": [bad], "count": -1})
    result = cli("download", "--missing", "--json", GARMINSYNC_MAX_ATTEMPTS="3")
    assert result.exit_code == 4  # partial failure
    assert json.loads(result.stdout)["failed"] == 1
    [(state, attempts, error, path)] = rows(
        cli, "SELECT state, attempts, last_error, file_path FROM activities WHERE id=?", bad
    )
    assert (state, attempts, path) == ("failed", 3, None)
    assert "CRC" in error
    assert not list(cli.data_dir.rglob(f"*{bad}*"))
    assert_archive_sound(cli)


def test_429_with_retry_after_is_honoured(cli: Cli, simulator: SimulatorServer) -> None:
    simulator.state.set_faults({"match": "download", "status": 429, "count": 1, "retry_after": 2})
    started = time.monotonic()
    result = cli("download", "--missing", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == 0
    downloads = [r for r in simulator.state.stats()["requests"] if r[1] == "download"]
    first_429 = next(r for r in downloads if r[3] == 429)
    after = [r for r in downloads if r[0] > first_429[0]]
    assert after and min(r[0] for r in after) - first_429[0] >= 1.9  # nobody called during the cool-down
    assert time.monotonic() - started >= 2


def test_429_html_without_retry_after_backs_off(cli: Cli, simulator: SimulatorServer) -> None:
    simulator.state.set_faults({"match": "download", "status": 429, "count": 2, "body": "html"})
    result = cli("download", "--missing", "--json")
    assert result.exit_code == 0, result.output
    downloads = [r for r in simulator.state.stats()["requests"] if r[1] == "download"]
    limited = [r for r in downloads if r[3] == 429]
    assert len(limited) == 2
    # GARMINSYNC_COOLDOWN=1: 1 s after the first 429, 2 s after the second.
    gap = min(r[0] for r in downloads if r[0] > limited[1][0]) - limited[1][0]
    assert gap >= 1.9
    assert_archive_sound(cli)


def test_rate_limit_is_never_exceeded(tmp_path: Path) -> None:
    from tests.conftest import sim_env

    with SimulatorServer(activities=20, seed=5) as sim:
        cli = Cli(sim_env(sim, tmp_path / "d", GARMINSYNC_RATE_LIMIT="5/second"), tmp_path / "d")
        assert cli("download", "--missing").exit_code == 0
        stats = sim.state.stats()
        times = [r[0] for r in stats["requests"]]
        assert len(times) == stats["by_kind"]["list"] + stats["by_kind"]["download"] == 23
        assert max_requests_in_window(times, 1.0) <= 5
        assert times[-1] - times[0] >= 4.0  # 23 requests at 5/s span at least 4 full seconds


def test_expiring_token_is_refreshed_once_and_persisted(cli: Cli, simulator: SimulatorServer) -> None:
    # garminconnect refreshes when fewer than 900 s remain: this token must be refreshed at once.
    tokens = simulator.state.issue_tokens(ttl=600)
    result = cli("download", "--missing", GARMINTOKENS=json.dumps(tokens))
    assert result.exit_code == 0, result.output
    assert simulator.state.stats()["refreshes"] == 1
    [(blob,)] = rows(cli, "SELECT token_blob FROM accounts WHERE name='default'")
    secrets = token_values({**cli.env, "GARMINTOKENS": json.dumps(tokens)})
    assert len(secrets) == 4  # the imported pair and the refreshed pair now stored: rotated
    assert_no_secret(secrets, "the token column", blob)  # encrypted
    # The rotated refresh token was stored: the next run does not need the old one.
    simulator.state.reset_stats()
    assert cli("download", "--missing").exit_code == 0


def test_refused_refresh_needs_login_and_stops(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("list", "--all").exit_code == 0
    simulator.state.revoke_access_tokens()
    simulator.state.revoke_refresh_tokens()
    simulator.state.reset_stats()
    result = cli.subprocess("download", "--missing")
    assert result.returncode == 3
    assert "garminsync login" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    refresh_attempts = simulator.state.stats()["by_kind"]["token_refresh"]
    assert refresh_attempts == 1  # one refused refresh, no storm
    simulator.state.reset_stats()
    again = cli.subprocess("download", "--missing")
    assert again.returncode == 3
    assert simulator.state.stats()["total"] == 0  # the account waits for a login


def test_list_filters_and_offline_make_no_request(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    simulator.state.reset_stats()
    everything = json.loads(cli("list", "--all", "--offline", "--json").stdout)
    assert simulator.state.stats()["total"] == 0
    assert len(everything) == 40
    downloaded = json.loads(cli("list", "--downloaded", "--offline", "--json").stdout)
    assert all(a["state"] == "downloaded" for a in downloaded)
    starts = sorted(a["start_time"][:10] for a in everything)
    since, until = starts[10], starts[30]
    window = json.loads(cli("list", "--offline", "--json", "--since", since, "--until", until).stdout)
    assert window and all(since <= a["start_time"][:10] <= until for a in window)
    kind = everything[0]["type"]
    typed = json.loads(cli("list", "--offline", "--json", "--type", kind).stdout)
    assert typed and all(a["type"] == kind for a in typed)
    assert cli("list", "--all").exit_code == 0
    assert simulator.state.stats()["by_kind"]["list"] == 1


def test_verify_finds_damage_and_repairs_it(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    assert cli("verify").exit_code == 0
    [(victim, path)] = rows(
        cli, "SELECT id, file_path FROM activities WHERE file_format='fit' ORDER BY id LIMIT 1"
    )
    target = cli.data_dir / path
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    (
        cli.data_dir
        / rows(cli, "SELECT file_path FROM activities WHERE file_format='fit' ORDER BY id LIMIT 1 OFFSET 1")[
            0
        ][0]
    ).unlink()
    report = cli("verify", "--json")
    assert report.exit_code == 4
    problems = json.loads(report.stdout)["problems"]
    assert {p["reason"] for p in problems} == {"sha256 differs from the recorded hash", "file is missing"}
    assert victim in {p["activity_id"] for p in problems}
    assert cli("verify", "--repair").exit_code == 0
    assert cli("verify").exit_code == 0
    assert check_fit(target.read_bytes()).ok


def test_status_reports_counts_without_network(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("download", "--missing").exit_code == 0
    simulator.state.reset_stats()
    report = json.loads(cli("status", "--json").stdout)
    assert simulator.state.stats()["total"] == 0
    kinds = expected_kinds(simulator)
    assert report["counts"]["downloaded"] == sum(k != "manual" for k in kinds.values())
    assert report["last_run"]["status"] == "success"
    assert report["mode"] == "embedded"
    secrets = token_values(cli.env)
    assert_no_secret(secrets, "status --json", json.dumps(report))
    assert_no_secret(secrets, "status", cli("status").output)


def test_specific_ids_can_be_downloaded_again(cli: Cli, simulator: SimulatorServer) -> None:
    assert cli("list", "--all").exit_code == 0
    one = simulator.state.ids_by_kind("fit")[0]
    result = cli("download", str(one), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"downloaded": 1}
    assert states(cli)[one] == "downloaded"
    unknown = cli("download", "123")
    assert unknown.exit_code == 2
    assert "unknown activity id" in unknown.stderr

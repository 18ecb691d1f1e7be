"""Upstream changes: the reconcile (`sync --full`) against what the athlete did on Garmin Connect.

Embedded mode, the real garminconnect client against the simulator; the
changes go through the simulator's control API (`PATCH`/`DELETE
/__sim/activities/<id>`), the requests are counted by its stats.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import requests

from services.simulator.server import SimulatorServer
from services.web.app import create_app
from shared.config import load_settings
from shared.errors import ConfigError
from tests.conftest import Cli, downloads_requested
from tests.web_factories import web_settings


def rows(cli: Cli, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        return conn.execute(sql, params).fetchall()


def one(cli: Cli, sql: str, *params: object) -> tuple:
    [row] = rows(cli, sql, *params)
    return row


def edit(sim: SimulatorServer, activity_id: int, **changes: object) -> None:
    response = requests.patch(f"{sim.url}/__sim/activities/{activity_id}", json=changes, timeout=10)
    assert response.status_code == 200, response.text


def sync(cli: Cli, *args: str) -> dict:
    result = cli("sync", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def oldest_fit(sim: SimulatorServer, count: int) -> list[int]:
    """Activities beyond the first page: an incremental sync never sees them again."""
    return sim.state.ids_by_kind("fit")[-count:]


def test_rename_and_type_change_are_picked_up_without_a_download(
    cli: Cli, simulator: SimulatorServer
) -> None:
    sync(cli)
    renamed, retyped = oldest_fit(simulator, 2)
    before = dict(rows(cli, "SELECT id, sha256 FROM activities"))
    old_type = one(cli, "SELECT activity_type FROM activities WHERE id=?", retyped)[0]
    new_type = "hiking" if old_type != "hiking" else "walking"
    edit(simulator, renamed, name="Säntis ridge [/tempo] ✓")
    edit(simulator, retyped, type_key=new_type)

    simulator.state.reset_stats()
    incremental = sync(cli)
    assert simulator.state.stats()["total"] == 1  # the first page only: old edits are not seen
    assert incremental["updated"] == 0

    touched = dict(rows(cli, "SELECT id, updated_at FROM activities"))
    simulator.state.reset_stats()
    report = sync(cli, "--full")
    stats = simulator.state.stats()
    after = dict(rows(cli, "SELECT id, updated_at FROM activities"))
    assert {i for i in after if after[i] != touched[i]} == {renamed, retyped}  # nothing else rewritten
    assert stats["by_kind"].get("download", 0) == 0
    assert stats["by_kind"]["list"] == report["list_requests"] == stats["total"]
    assert report["updated"] == 2 and report["changed"] == 0 and report["downloaded"] == 0
    assert one(cli, "SELECT name FROM activities WHERE id=?", renamed) == ("Säntis ridge [/tempo] ✓",)
    assert one(cli, "SELECT activity_type FROM activities WHERE id=?", retyped) == (new_type,)
    assert dict(rows(cli, "SELECT id, sha256 FROM activities")) == before
    shown = json.loads(cli("list", "--offline", "--json").stdout)
    assert {a["id"]: a["name"] for a in shown}[renamed] == "Säntis ridge [/tempo] ✓"

    simulator.state.reset_stats()
    sync(cli)
    assert simulator.state.stats()["total"] == 1  # and incremental syncs stay at one request


def test_deleted_activity_is_flagged_kept_shown_and_pruned_only_when_asked(
    cli: Cli, simulator: SimulatorServer, tmp_path: Path
) -> None:
    sync(cli)
    gone = oldest_fit(simulator, 1)[0]
    path = cli.data_dir / one(cli, "SELECT file_path FROM activities WHERE id=?", gone)[0]
    simulator.state.delete_activity(gone)
    # A walk that does not reach the end proves nothing: the second page fails.
    simulator.state.set_faults(
        [{"match": "list", "delay_ms": 1, "count": 1}, {"match": "list", "status": 503, "count": 1}]
    )
    assert cli("sync", "--full").exit_code == 6
    assert one(cli, "SELECT deleted_upstream, deleted_at FROM activities WHERE id=?", gone) == (0, None)

    report = sync(cli, "--full")
    assert report["deleted"] == 1 and report["downloaded"] == 0
    flagged, deleted_at, state = one(
        cli, "SELECT deleted_upstream, deleted_at, state FROM activities WHERE id=?", gone
    )
    assert flagged == 1 and deleted_at is not None and state == "downloaded"
    assert path.is_file()  # kept on disk
    listed = json.loads(cli("list", "--deleted", "--offline", "--json").stdout)
    assert [(a["id"], a["deleted_upstream"]) for a in listed] == [(gone, True)]
    assert listed[0]["deleted_at"]
    table = cli.subprocess("list", "--offline", COLUMNS="250")  # a process reads COLUMNS when it starts
    assert "(deleted on Garmin)" in next(line for line in table.stdout.splitlines() if str(gone) in line)
    assert json.loads(cli("status", "--json").stdout)["deleted_on_garmin"] == 1
    assert "Deleted on Garmin 1, kept in the archive" in cli.subprocess("status", COLUMNS="250").stdout
    dashboard = create_app(web_settings(tmp_path, GARMINSYNC_GARMIN_API_URL=simulator.url)).test_client()
    on_page = dashboard.get("/api/activities?state=deleted").get_json()
    assert [a["id"] for a in on_page["items"]] == [gone]
    assert "deleted on Garmin" in dashboard.get("/activities?state=deleted").get_data(as_text=True)
    assert cli("verify").exit_code == 0  # a deleted activity's file is still sound

    dry = cli("prune", "--deleted", "--json")
    assert dry.exit_code == 0
    assert json.loads(dry.stdout) == {"pruned": False, "activity_ids": [gone], "files": 1}
    assert path.is_file()
    assert cli("prune").exit_code == 2  # nothing to prune named
    done = cli("prune", "--deleted", "--yes")
    assert done.exit_code == 0 and "Removed 1" in done.stdout
    assert not path.exists()
    assert rows(cli, "SELECT id FROM activities WHERE id=?", gone) == []
    assert cli("verify").exit_code == 0  # every other file untouched


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_changed_file_on_garmin_is_downloaded_again(cli: Cli, simulator: SimulatorServer) -> None:
    sync(cli)
    trimmed, moved = oldest_fit(simulator, 2)
    files = {i: one(cli, "SELECT file_path, sha256 FROM activities WHERE id=?", i) for i in (trimmed, moved)}
    duration = one(cli, "SELECT duration_s FROM activities WHERE id=?", trimmed)[0]
    edit(simulator, trimmed, duration_s=round(duration * 0.8, 3))  # a corrected upload: trimmed
    edit(simulator, moved, start_shift_s=-120)  # the start fixed: the file's name changes too

    simulator.state.reset_stats()
    report = sync(cli, "--full")
    assert report["changed"] == 2 and report["updated"] == 0 and report["downloaded"] == 2
    assert sorted(downloads_requested(simulator)) == sorted((trimmed, moved))
    for activity_id, (old_path, old_sha) in files.items():
        path, new_sha, state = one(
            cli, "SELECT file_path, sha256, state FROM activities WHERE id=?", activity_id
        )
        assert state == "downloaded" and new_sha != old_sha
        assert sha(cli.data_dir / path) == new_sha
        if activity_id == moved:
            assert path != old_path and not (cli.data_dir / old_path).exists()
        else:
            assert path == old_path
    deep = cli("verify", "--deep", "--json")
    assert deep.exit_code == 0, deep.stdout  # the new files match Garmin's new summary

    simulator.state.reset_stats()
    assert sync(cli, "--full")["changed"] == 0  # a second walk finds nothing to do
    assert downloads_requested(simulator) == []


def test_old_file_stays_until_the_new_one_checks_out(cli: Cli, simulator: SimulatorServer) -> None:
    sync(cli)
    [trimmed] = oldest_fit(simulator, 1)
    path, old_sha = one(cli, "SELECT file_path, sha256 FROM activities WHERE id=?", trimmed)
    duration = one(cli, "SELECT duration_s FROM activities WHERE id=?", trimmed)[0]
    edit(simulator, trimmed, duration_s=round(duration / 2, 3))
    simulator.state.set_faults({"corrupt_fit": [trimmed], "count": -1})
    result = cli("sync", "--full", "--json", GARMINSYNC_MAX_ATTEMPTS="2")
    assert result.exit_code == 4  # partial: that download failed
    assert json.loads(result.stdout)["failed"] == 1
    assert sha(cli.data_dir / path) == old_sha  # the archived file is untouched
    assert one(cli, "SELECT state, file_path FROM activities WHERE id=?", trimmed) == ("failed", path)


def test_reconcile_cron_setting_is_checked_and_the_simulator_refuses_bad_edits(
    tmp_path: Path, simulator: SimulatorServer
) -> None:
    env = {"GARMINSYNC_DATA_DIR": str(tmp_path)}
    assert load_settings(env).reconcile_cron == "0 4 * * 0"
    assert load_settings({**env, "GARMINSYNC_RECONCILE_CRON": "off"}).reconcile_cron is None
    assert load_settings({**env, "GARMINSYNC_RECONCILE_CRON": "daily"}).reconcile_cron == "30 3 * * *"
    with pytest.raises(ConfigError, match=r"GARMINSYNC_RECONCILE_CRON: .*0 is Sunday"):
        load_settings({**env, "GARMINSYNC_RECONCILE_CRON": "0 4 * * 7"})

    target = simulator.state.activity_ids()[0]
    url = f"{simulator.url}/__sim/activities"
    assert requests.patch(f"{url}/1", json={"name": "x"}, timeout=10).status_code == 404
    for bad in ({"colour": "red"}, {"duration_s": "long"}, {"type_key": "flying"}, {"duration_s": 0}):
        assert requests.patch(f"{url}/{target}", json=bad, timeout=10).status_code == 400, bad
    assert simulator.state.stats()["total"] == 0  # control requests are not counted

"""Hostile values from Garmin: cleaned once where summaries are parsed, for every store.

The simulator's catalogue serves them to every test (names with Rich markup,
terminal escapes, NUL and a right-to-left override; an id beyond 64 bits;
`Infinity` durations and distances). Here: the values themselves, a real sync
into SQLite and into a real PostgreSQL server, and the dashboard reading them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from services.simulator.server import SimulatorServer
from services.web.app import create_app
from shared.config import normalize_database_url
from shared.db import create_session
from shared.garmin_values import MAX_ACTIVITY_ID, activity_id, clean_json, clean_text, finite
from shared.listing import entry_columns
from shared.models import Activity, SyncRun
from tests.conftest import Cli, sim_env, strict_json
from tests.web_factories import BASE_ID, FakeBroker, seed_store, web_settings

CONTROLS = ("\x00", "\x1b", "\x07", "\x9b", "\u202e")


def test_values_are_checked_field_by_field() -> None:
    assert activity_id(2**63) is None and activity_id(MAX_ACTIVITY_ID) == MAX_ACTIVITY_ID
    assert activity_id(math.inf) is None and activity_id(-5) is None and activity_id(True) is None
    assert activity_id(21_000_000_001.0) == 21_000_000_001 and activity_id("x") is None
    assert finite(math.inf) is None and finite(math.nan) is None and finite(-1.0) is None
    assert finite(10**400) is None and finite(12) == 12.0
    assert clean_text("Null\x00byte \u202eRide\x1b[2J", 255) == "Null byte Ride [2J"
    assert clean_text("\x00\x07", 255) is None and clean_text("Morning Run 🏃‍♀️", 255) == "Morning Run 🏃‍♀️"
    assert clean_json({"a\x00": [math.inf, "x\x1by", {"b": math.nan}]}) == {"a ": [None, "x y", {"b": None}]}


def test_one_odd_entry_does_not_stop_the_page() -> None:
    good = {"activityId": 21_000_000_001, "startTimeGMT": "2026-01-08 08:10:21", "activityName": "Run"}
    huge = {**good, "activityId": 2**64}
    endless = {**good, "activityId": 21_000_000_002, "duration": math.inf, "distance": math.inf}
    assert entry_columns(huge) is None
    fields = entry_columns(endless)
    assert fields is not None and fields["duration_s"] is None and fields["distance_m"] is None
    assert strict_json(fields["summary_json"])["duration"] is None
    assert entry_columns({**good, "startTimeGMT": None, "beginTimestamp": math.inf}) is None


def synced(db_url: str, tmp_path: Path) -> tuple[Cli, SimulatorServer, Any]:
    sim = SimulatorServer(activities=40, seed=7).start()
    data = tmp_path / "data"
    cli = Cli(sim_env(sim, data, DATABASE_URL=db_url), data)
    return cli, sim, cli.subprocess("download", "--missing")


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def test_a_sync_stores_every_activity_but_the_huge_id(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One NUL stopped every sync on PostgreSQL; an id beyond 2^63 stopped it everywhere."""
    db_url = str(request.getfixturevalue("pg_url")) if engine == "postgresql" else ""
    db_url = db_url or f"sqlite:///{tmp_path / 'data' / 'garmin.db'}"
    cli, sim, result = synced(db_url, tmp_path)
    try:
        assert result.returncode == 0, result.stderr
        assert "2^63" in result.stderr  # the odd entries are reported
        assert "duration = inf; stored as unknown" in result.stderr
        again = cli.subprocess("sync")
        assert again.returncode == 0 and "stored as unknown" not in again.stderr  # once, when new
        expected = {a.activity_id for a in sim.state.activities() if a.storable}
        odd = {a.odd: a.activity_id for a in sim.state.activities() if a.odd}
    finally:
        sim.stop()
    with create_session(normalize_database_url(db_url)) as session:
        stored = {a.id: a for a in session.scalars(select(Activity))}
        runs = session.scalars(select(SyncRun)).all()
    assert set(stored) == expected and odd["huge_id"] not in stored
    assert [run.status for run in runs] == ["success", "success"]
    names = [a.name or "" for a in stored.values()]
    assert "Null byte Ride" in names and "Intervals [/tempo] 5x1k" in names
    assert not any(char in name for name in names for char in CONTROLS)
    assert stored[odd["infinite_duration"]].duration_s is None
    assert stored[odd["infinite_distance"]].distance_m is None
    assert {a.state for a in stored.values()} <= {"downloaded", "no_file"}
    listed = strict_json(cli.subprocess("list", "--offline", "--json").stdout)
    assert len(listed) == len(expected)


def test_the_dashboard_reads_values_stored_before_the_check(tmp_path: Path) -> None:
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0")
    seed_store(settings.database_url, activities=10, runs=1, tasks=1)
    with create_session(settings.database_url) as session:
        session.execute(
            update(Activity).where(Activity.id == BASE_ID).values(duration_s=math.inf, distance_m=math.inf)
        )
    client = create_app(settings, broker=FakeBroker()).test_client()
    assert client.get("/activities").status_code == 200
    assert client.get(f"/activities/{BASE_ID}").status_code == 200
    listed = strict_json(client.get("/api/activities").get_data(as_text=True))
    row = next(item for item in listed["items"] if item["id"] == BASE_ID)
    assert row["duration_s"] is None and row["distance_m"] is None
    detail = strict_json(client.get(f"/api/activities/{BASE_ID}").get_data(as_text=True))
    assert detail["duration_s"] is None

"""`garminsync export` (CSV, JSON, Parquet) and the dashboard's "Download CSV": the same
catalogue, filtered alike, safe to open in a spreadsheet, and no request to Garmin."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from services.simulator.data import HOSTILE_NAMES
from services.simulator.server import SimulatorServer
from services.web.app import create_app
from shared.db import create_session
from shared.models import Activity, ActivityFile
from tests.conftest import Cli, sim_env
from tests.web_factories import BASE_ID, FakeBroker, seed_store, web_settings

COLUMNS = [
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
]
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def store(cli: Cli) -> dict[int, dict[str, Any]]:
    with sqlite3.connect(cli.data_dir / "garmin.db") as conn:
        conn.row_factory = sqlite3.Row
        return {row["id"]: dict(row) for row in conn.execute("SELECT * FROM activities")}


def assert_spreadsheet_safe(records: list[dict[str, str]], names: dict[int, str | None]) -> None:
    """No cell a spreadsheet would run; a name that looked like a formula is kept, quoted."""
    for record in records:
        assert not any(cell.startswith(FORMULA) for cell in record.values()), record
        name = names[int(record["id"])] or ""
        assert record["name"] == ("'" + name if name.startswith(FORMULA) else name)


@pytest.fixture
def hostile_cli(tmp_path: Path) -> Any:
    with SimulatorServer(activities=60, seed=11, hostile_names=len(HOSTILE_NAMES)) as sim:
        yield Cli(sim_env(sim, tmp_path / "data"), tmp_path / "data"), sim


def test_export_csv_json_parquet(hostile_cli: Any, tmp_path: Path) -> None:
    cli, sim = hostile_cli
    assert cli("download", "--missing").exit_code == 0
    sim.state.reset_stats()
    rows = store(cli)
    names = {i: row["name"] for i, row in rows.items()}
    assert any((name or "").startswith("=") for name in names.values())  # the simulator's formula names

    result = cli("export")  # CSV on stdout by default
    assert result.exit_code == 0, result.output
    assert f"{len(rows)} activities exported" in result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout, newline=""))
    assert reader.fieldnames == COLUMNS
    records = list(reader)
    assert [int(r["id"]) for r in records] == sorted(
        rows, key=lambda i: (rows[i]["start_time"], i), reverse=True
    )
    assert_spreadsheet_safe(records, names)
    for record in records:
        row = rows[int(record["id"])]
        archived = row["state"] == "downloaded"
        assert record["state"] == row["state"]
        assert record["file"] == (row["file_path"] if archived else "")
        assert record["sha256"] == (row["sha256"] if archived else "")
        assert record["formats"] == (row["file_format"] if archived else "")
        assert record["distance_m"] == ("" if row["distance_m"] is None else str(row["distance_m"]))

    as_json = cli("export", "--format", "json", "--since", "2025-01-01", "--type", "running")
    assert as_json.exit_code == 0, as_json.output
    items = json.loads(as_json.stdout)
    listed = json.loads(
        cli("list", "--offline", "--json", "--since", "2025-01-01", "--type", "running").stdout
    )
    assert [item["id"] for item in items] == [row["id"] for row in listed] and items
    for item in items:
        assert list(item) == COLUMNS and item["name"] == names[item["id"]]  # JSON keeps names as they are

    target = tmp_path / "out" / "catalogue.parquet"
    target.parent.mkdir()
    parquet = cli("export", "-f", "parquet", "-o", str(target))
    assert parquet.exit_code == 0, parquet.output
    import pyarrow.parquet as pq

    table = pq.read_table(target)
    assert table.column_names == COLUMNS and table.num_rows == len(rows)
    assert getattr(table.schema.field("start_time").type, "tz", None) == "UTC"
    first = table.slice(0, 1).to_pylist()[0]
    assert first["id"] == int(records[0]["id"]) and first["name"] == names[first["id"]]
    assert first["start_time"].isoformat() == records[0]["start_time"]
    assert [p.name for p in target.parent.iterdir()] == ["catalogue.parquet"]  # no partial file left

    assert sim.state.stats()["total"] == 0  # exporting asks Garmin nothing


def test_export_refuses_clearly(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("list").exit_code == 0
    unknown = cli("export", "--format", "xlsx")
    assert unknown.exit_code == 2 and "unknown export format 'xlsx'" in unknown.stderr
    backwards = cli("export", "--since", "2026-02-01", "--until", "2026-01-01")
    assert backwards.exit_code == 2 and "is after --until" in backwards.stderr
    nowhere = cli("export", "-o", str(tmp_path / "missing-dir" / "x.csv"))
    assert nowhere.exit_code == 5 and "cannot write" in nowhere.stderr
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as without the `parquet` extra
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    absent = cli("export", "-f", "parquet", "-o", str(tmp_path / "x.parquet"))
    assert absent.exit_code == 5 and "pip install 'garminsync[parquet]'" in absent.stderr
    assert "Traceback" not in absent.output and not (tmp_path / "x.parquet").exists()


# --- the dashboard ---------------------------------------------------------------

WEB_PASSWORD = "open-sesame-42"


@pytest.fixture
def web(tmp_path: Path) -> Flask:
    settings = web_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9/0", GARMINSYNC_WEB_PASSWORD=WEB_PASSWORD)
    seed_store(settings.database_url, activities=300, runs=2, tasks=2)
    with create_session(settings.database_url) as session:
        session.execute(update(Activity).where(Activity.id == BASE_ID).values(name='=HYPERLINK("x","y")'))
        session.execute(update(Activity).where(Activity.id == BASE_ID + 7).values(name="@SUM(1+1)"))
        session.add(
            ActivityFile(activity_id=BASE_ID + 7, format="gpx", path="fit/x.gpx", size=1, sha256="0" * 64)
        )
    return create_app(settings, broker=FakeBroker())


def test_dashboard_download_csv(web: Flask) -> None:
    client = web.test_client()
    assert client.get("/activities/export.csv").status_code == 302  # the login first
    token = client.get("/api/csrf").get_json()["csrf_token"]
    assert client.post("/login", data={"password": WEB_PASSWORD, "csrf_token": token}).status_code == 302
    page = client.get("/activities?type=running&state=downloaded").get_data(as_text=True)
    assert 'href="/activities/export.csv?type=running&amp;state=downloaded"' in page
    assert '<td class="d-none d-md-table-cell small text-nowrap activity-formats">fit gpx</td>' in page
    detail = client.get(f"/api/activities/{BASE_ID + 7}").get_json()
    assert detail["formats"] == ["fit", "gpx"]

    answer = client.get("/activities/export.csv?type=running&state=downloaded")
    assert answer.status_code == 200 and answer.is_streamed
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="garminsync-activities-')
    records = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True), newline="")))
    shown = client.get("/api/activities?type=running&state=downloaded&per_page=200").get_json()
    assert [int(r["id"]) for r in records] == [item["id"] for item in shown["items"]]
    assert {r["type"] for r in records} == {"running"} and {r["state"] for r in records} == {"downloaded"}

    everything = list(
        csv.DictReader(io.StringIO(client.get("/activities/export.csv").get_data(as_text=True)))
    )
    assert len(everything) == 300
    by_id = {int(r["id"]): r for r in everything}
    assert by_id[BASE_ID]["name"] == '\'=HYPERLINK("x","y")' and by_id[BASE_ID + 7]["name"] == "'@SUM(1+1)"
    assert by_id[BASE_ID + 7]["formats"] == "fit;gpx"
    assert not any(cell.startswith(FORMULA) for r in everything for cell in r.values())

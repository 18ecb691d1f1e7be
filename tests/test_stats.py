"""`garminsync stats` and its use case: totals per year, month and type at a real archive's
shape (thousands of activities over years, names with any character), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from shared.config import load_settings
from shared.db import create_session, ensure_schema
from shared.models import Activity
from shared.runtime import Runtime
from shared.usecases.stats import totals
from tests.conftest import Cli, strict_json
from tests.web_factories import make_account

TYPES = ["running", "cycling", "lap_swimming", "hiking", None]
NAMES = ["Morning Run", "Ride 🚴 [bold]x[/bold]", "Zwömmen\u202eevil", "'; DROP TABLE activities; --", "名前"]
COUNT = 3000


def seed(db_url: str, account_id: int, count: int = COUNT, seed: int = 5) -> list[dict[str, Any]]:
    """Activities over six years; some local starts fall in another year than their UTC start."""
    rng = random.Random(seed)
    rows = []
    start = datetime(2021, 1, 1, 1, 30, tzinfo=UTC)
    for i in range(count):
        utc = start + timedelta(hours=17 * i + (rng.randint(0, 3) if i else 0))
        # The first: New Year's Eve in New York, already 2021 in UTC.
        offset = timedelta(hours=rng.choice([-8, -5, 0, 1, 2, 9]) if i else -5)
        local = None if i % 97 == 5 else (utc + offset).replace(tzinfo=None)
        rows.append(
            {
                "id": 10_000_000_000 + seed * 1_000_000 + i,
                "account_id": account_id,
                "name": NAMES[i % len(NAMES)],
                "activity_type": TYPES[i % len(TYPES)],
                "start_time": utc,
                "start_time_local": local,
                "distance_m": None if i % 50 == 7 else float(rng.randint(500, 60_000)),
                "duration_s": float(rng.randint(600, 9000)),
                "moving_s": None if i % 41 == 3 else float(rng.randint(600, 8000)),
                "elapsed_s": float(rng.randint(600, 10_000)),
                "state": "downloaded" if i % 3 else "missing",
                "attempts": 0,
                "manual": False,
                "deleted_upstream": i % 200 == 0,
                "created_at": utc,
                "updated_at": utc,
            }
        )
    with create_session(db_url) as session:
        session.execute(insert(Activity), rows)
    return rows


def expected(rows: list[dict[str, Any]], by: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        moment = row["start_time_local"] or row["start_time"].replace(tzinfo=None)
        key = {"year": f"{moment:%Y}", "month": f"{moment:%Y-%m}", "type": row["activity_type"] or "unknown"}[
            by
        ]
        out[key]["count"] += 1
        out[key]["distance_km"] += (row["distance_m"] or 0) / 1000
        out[key]["moving_s"] += row["moving_s"] or 0
        out[key]["elapsed_s"] += row["elapsed_s"] or 0
    return out


def check(result: dict[str, Any], rows: list[dict[str, Any]], by: str) -> None:
    want = expected(rows, by)
    got = {row["key"]: row for row in result["rows"]}
    assert set(got) == set(want)
    for key, values in want.items():
        assert got[key]["count"] == values["count"]
        for name in ("distance_km", "moving_s", "elapsed_s"):
            assert got[key][name] == pytest.approx(values[name], abs=0.01)
    assert result["total"]["count"] == len(rows)


def runtime_for(db_url: str, tmp_path: Path) -> Runtime:
    env = {"GARMINSYNC_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": db_url}
    settings = load_settings(environ=env, env_file=tmp_path / "none.env")
    ensure_schema(settings.database_url)
    return Runtime.build(settings)


def totals_on(db_url: str, tmp_path: Path) -> None:
    runtime = runtime_for(db_url, tmp_path)
    with create_session(runtime.settings.database_url) as session:
        account_id = make_account(session).id
        other = make_account(session, "other").id
    rows = seed(runtime.settings.database_url, account_id)
    seed(runtime.settings.database_url, other, count=50, seed=9)  # never in the first account's totals
    for by in ("year", "month", "type"):
        check(totals(runtime, account_id, by), rows, by)
    years = [row["key"] for row in totals(runtime, account_id, "year")["rows"]]
    assert years == sorted(years) and years[0] == "2020"  # a local New Year's Eve run counts in 2020


def test_totals_on_sqlite(tmp_path: Path) -> None:
    totals_on(f"sqlite:///{tmp_path / 'data' / 'garmin.db'}", tmp_path)


@pytest.mark.integration
def test_totals_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    totals_on(pg_url, tmp_path)


def test_the_command_as_a_user_runs_it(cli: Cli) -> None:
    assert cli("status").exit_code == 0  # creates the store and the default account
    from sqlalchemy import select

    from shared.models import Account

    with create_session(cli.db_url) as session:
        account_id = session.scalars(select(Account.id).where(Account.name == "default")).one()
    rows = seed(cli.db_url, account_id, count=800)
    for by in ("year", "month", "type"):
        result = cli.subprocess("stats", "--by", by, "--json")
        assert result.returncode == 0, result.stderr
        check(strict_json(result.stdout), rows, by)
    table = cli.subprocess("stats")
    assert table.returncode == 0 and "total" in table.stdout and "800" in table.stdout
    bad = cli.subprocess("stats", "--by", "week")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --by must be one of year, month, type (got 'week')"
    unknown = cli.subprocess("stats", "--account", "nobody")
    assert unknown.returncode == 2 and "unknown account 'nobody'" in unknown.stderr
    assert json.loads(cli.subprocess("stats", "--json", "--by", "type").stdout)["account"] == "default"

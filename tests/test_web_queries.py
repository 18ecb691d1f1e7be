"""The dashboard's queries and helpers: deep pages exact, charts, caches, formatting.

The deep-page read (`seek=True`) must give exactly the rows OFFSET gives, ties
in start time included, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from services.web.cache import TTLCache
from services.web.forms import ActivityFilters, Paging
from services.web.queries.activities import activity_page, list_activities
from services.web.queries.charts import month_counts
from services.web.queries.paging import Page
from services.web.queries.system import database_size
from services.web.templating import ago, distance, duration, filesize, local, when
from shared.config import normalize_database_url
from shared.db import create_session, ensure_schema, session_factory
from shared.models import Activity
from tests.servers import postgres_available, postgres_server
from tests.web_factories import BASE_ID, EPOCH, make_account, seed_activities

ROWS = 1300


def seed_with_ties(url: str) -> int:
    ensure_schema(url)
    with create_session(url) as session:
        account = make_account(session)
        seed_activities(session, account.id, ROWS)
        # Groups of equal start times straddling page boundaries.
        for first in (BASE_ID + 45, BASE_ID + 99, BASE_ID + 700, BASE_ID + 1249):
            same = session.get(Activity, first)
            assert same is not None
            session.execute(
                update(Activity)
                .where(Activity.id.in_(range(first, first + 9)))
                .values(start_time=same.start_time)
            )
        return account.id


def pages_agree(session: Session, account_id: int, filters: ActivityFilters) -> None:
    per_page = 50
    total = activity_page(session, account_id, filters, Paging(1, per_page)).total
    pages = -(-total // per_page)

    def ids(page: int, seek: bool) -> list[int]:
        read = activity_page(session, account_id, filters, Paging(page, per_page), seek=seek)
        return [row["id"] for row in read.items]

    for page in range(1, pages + 1):
        assert ids(page, seek=True) == ids(page, seek=False), (filters, page)
    everything = [activity_id for page in range(1, pages + 1) for activity_id in ids(page, seek=True)]
    assert len(everything) == len(set(everything)) == total


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    url = f"sqlite:///{tmp_path_factory.mktemp('queries')}/garmin.db"
    return url, seed_with_ties(url)


@pytest.mark.parametrize(
    "filters",
    [
        ActivityFilters(),
        ActivityFilters(order="asc"),
        ActivityFilters(since=date(2025, 6, 1), until=date(2025, 12, 31)),
    ],
)
def test_deep_pages_match_offset_on_sqlite(sqlite_store: tuple[str, int], filters: ActivityFilters) -> None:
    url, account_id = sqlite_store
    with session_factory(url)() as session:
        pages_agree(session, account_id, filters)


def test_selective_states_use_the_same_order(sqlite_store: tuple[str, int]) -> None:
    url, account_id = sqlite_store
    cache = TTLCache()
    with session_factory(url)() as session:
        failed = list_activities(session, account_id, ActivityFilters(state="failed"), Paging(1, 200), cache)
        starts = [row["start_time"] for row in failed.items]
        assert failed.total == 65 and starts == sorted(starts, reverse=True)
        downloaded = list_activities(
            session, account_id, ActivityFilters(state="downloaded"), Paging(2, 10), cache
        )
        assert [row["state"] for row in downloaded.items] == ["downloaded"] * 10


def test_month_counts_window(sqlite_store: tuple[str, int]) -> None:
    url, account_id = sqlite_store
    with session_factory(url)() as session:
        months = month_counts(session, account_id)
    assert len(months) == 24 and months[-1]["month"] == EPOCH.strftime("%Y-%m")
    assert months[0]["month"] == "2024-02"
    assert sum(m["archived"] for m in months) > 0


def test_pager_window() -> None:
    page = Page([], 50, 10, 1000)
    assert page.pages == 100 and page.window() == [1, None, 48, 49, 50, 51, 52, None, 100]
    assert Page([], 1, 10, 0).pages == 1 and Page([], 1, 10, 0).window() == [1]
    assert Page([], 2, 10, 30).window() == [1, 2, 3]


def test_ttl_cache() -> None:
    now = [0.0]
    cache = TTLCache(max_entries=3, clock=lambda: now[0])
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_set("a", 5, compute) == 1
    assert cache.get_or_set("a", 5, compute) == 1
    now[0] = 6
    assert cache.get_or_set("a", 5, compute) == 2
    for key in "bcdef":
        cache.get_or_set(key, 5, compute)
    assert len(cache._data) <= 3
    cache.clear()
    assert cache.get_or_set("a", 5, compute) == 8


def test_formatting() -> None:
    assert duration(3725.4) == "1:02:05" and duration(65) == "1:05" and duration(None) == "—"
    assert distance(12345) == "12.35 km" and distance(None) == "—"
    assert filesize(512) == "512 B" and filesize(2048) == "2.0 KB" and filesize(3 * 1024**3) == "3.0 GB"
    assert (
        when("2026-01-10T12:00:00+00:00") == "2026-01-10 12:00" and when(None) == "—" and when("junk") == "—"
    )
    assert when(datetime(2026, 1, 10, 13, 0)) == "2026-01-10 13:00"
    assert local("2026-01-10T07:30:00") == "2026-01-10 07:30"
    assert ago(datetime.now(UTC) - timedelta(minutes=5, seconds=2)) == "5 min ago"
    assert ago((datetime.now(UTC) + timedelta(hours=3, minutes=1)).isoformat()) == "in 3 h"
    assert ago(None) == "—"


@pytest.fixture(scope="module")
def web_pg_url() -> Iterator[str]:
    if not postgres_available():
        pytest.skip("PostgreSQL is not installed")
    with postgres_server() as url:
        yield normalize_database_url(url)


@pytest.mark.integration
def test_deep_pages_and_dashboard_on_postgres(web_pg_url: str, tmp_path: Any) -> None:
    account_id = seed_with_ties(web_pg_url)
    with session_factory(web_pg_url)() as session:
        pages_agree(session, account_id, ActivityFilters())
        pages_agree(session, account_id, ActivityFilters(order="asc", since=date(2025, 6, 1)))
        deep = list_activities(session, account_id, ActivityFilters(), Paging(25, 50))  # offset 1200: seeks
        assert [row["id"] for row in deep.items] == [
            row["id"] for row in activity_page(session, account_id, ActivityFilters(), Paging(25, 50)).items
        ]
        months = month_counts(session, account_id)
        assert len(months) == 24 and months[-1]["month"] == EPOCH.strftime("%Y-%m")
        assert database_size(session)

    from services.web.app import create_app
    from tests.web_factories import FakeBroker, web_settings

    settings = web_settings(tmp_path, DATABASE_URL=web_pg_url, REDIS_URL="redis://127.0.0.1:9/0")
    app = create_app(settings, broker=FakeBroker())
    client = app.test_client()
    for url in (
        "/",
        "/activities?page=20",
        "/system",
        "/api/dashboard/chart",
        "/api/activities?q=tempo",
        "/metrics",
    ):
        assert client.get(url).status_code == 200, url
    assert client.get("/api/system").get_json()["database"]["dialect"] == "postgresql"
    assert "postgres@" in client.get("/api/system").get_json()["database"]["url"]

"""Alembic owns the schema: upgrade, downgrade and model parity on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from shared.config import normalize_database_url
from shared.db import _alembic_config, create_session, ensure_schema, get_engine, head_revision
from shared.models import Account, Activity, Base

TABLES = {
    "accounts",
    "activities",
    "activity_files",
    "sync_runs",
    "task_runs",
    "schedules",
    "notifications",
    "alembic_version",
}


def exercise(url: str) -> None:
    url = normalize_database_url(url)
    ensure_schema(url)
    engine = get_engine(url)
    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    start = datetime(2026, 1, 8, 14, 10, 21, tzinfo=UTC)
    with create_session(url) as session:
        account = Account(name="default")
        session.add(account)
        session.flush()
        session.add(Activity(id=21482825013, account_id=account.id, start_time=start))
    with create_session(url) as session:
        stored = session.get(Activity, 21482825013)  # beyond 2**31
        assert stored is not None
        assert stored.start_time.replace(tzinfo=stored.start_time.tzinfo or UTC) == start
    command.downgrade(_alembic_config(url), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    ensure_schema(url)
    assert set(inspect(engine).get_table_names()) == TABLES
    ensure_schema(url)  # at head: nothing to do


def test_sqlite(tmp_path: Path) -> None:
    exercise(f"sqlite:///{tmp_path}/garmin.db")
    with get_engine(f"sqlite:///{tmp_path}/garmin.db").connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@pytest.mark.integration
def test_postgresql(pg_url: str) -> None:
    exercise(pg_url)


def test_head_is_single() -> None:
    assert head_revision() == "0006"


def upgrade_with_claims(url: str) -> None:
    """Claims made before 0002 had their task published: they count as published, not as backlog."""
    from sqlalchemy import text

    url = normalize_database_url(url)
    command.upgrade(_alembic_config(url), "0001")
    with get_engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, name, token_state, history_complete, created_at) "
                "VALUES (1, 'a', 'valid', false, :t)"
            ),
            {"t": datetime(2026, 1, 1, tzinfo=UTC)},
        )
        for activity_id, state in ((1, "queued"), (2, "downloading"), (3, "missing")):
            conn.execute(
                text(
                    "INSERT INTO activities (id, account_id, start_time, state, attempts, manual, "
                    "deleted_upstream, queued_at, created_at, updated_at) "
                    "VALUES (:id, 1, :t, :state, 0, false, false, :t, :t, :t)"
                ),
                {"id": activity_id, "state": state, "t": datetime(2026, 1, 1, tzinfo=UTC)},
            )
    ensure_schema(url)
    with create_session(url) as session:
        published = {a.id: a.dispatched_at is not None for a in session.query(Activity).all()}
    assert published == {1: True, 2: True, 3: False}


def test_upgrade_keeps_published_claims_sqlite(tmp_path: Path) -> None:
    upgrade_with_claims(f"sqlite:///{tmp_path}/old.db")


@pytest.mark.integration
def test_upgrade_keeps_published_claims_postgresql(pg_url: str) -> None:
    upgrade_with_claims(pg_url)


def upgrade_fills_times(url: str) -> None:
    """0004 reads moving and elapsed time out of the summaries already stored (for `stats`)."""
    from sqlalchemy import text

    url = normalize_database_url(url)
    command.upgrade(_alembic_config(url), "0003")
    summaries = {
        1: '{"movingDuration": 2216.0, "elapsedDuration": 2225.44}',
        2: '{"movingDuration": "n/a"}',
        3: "not json",
    }
    with get_engine(url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (id, name, token_state, history_complete, created_at) "
                "VALUES (1, 'a', 'valid', false, :t)"
            ),
            {"t": datetime(2026, 1, 1, tzinfo=UTC)},
        )
        for activity_id, summary in summaries.items():
            conn.execute(
                text(
                    "INSERT INTO activities (id, account_id, start_time, state, attempts, manual, "
                    "deleted_upstream, summary_json, created_at, updated_at) "
                    "VALUES (:id, 1, :t, 'missing', 0, false, false, :s, :t, :t)"
                ),
                {"id": activity_id, "t": datetime(2026, 1, 1, tzinfo=UTC), "s": summary},
            )
    ensure_schema(url)
    with create_session(url) as session:
        times = {a.id: (a.moving_s, a.elapsed_s) for a in session.query(Activity)}
    assert times == {1: (2216.0, 2225.44), 2: (None, None), 3: (None, None)}


def test_upgrade_fills_times_sqlite(tmp_path: Path) -> None:
    upgrade_fills_times(f"sqlite:///{tmp_path}/garmin.db")


@pytest.mark.integration
def test_upgrade_fills_times_postgresql(pg_url: str) -> None:
    upgrade_fills_times(pg_url)

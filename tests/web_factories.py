"""Rows for the dashboard's tests and benchmark, written straight into the store.

Bulk inserts through SQLAlchemy core, so 100,000 activities take seconds, not
minutes. Deterministic: the same `seed` gives the same rows.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shared.models import Account, Activity, DownloadState, Schedule, SyncRun, TaskRun, TokenState

TYPES = ["running", "cycling", "swimming", "walking", "hiking", "strength_training", "yoga"]
NAMES = ["Morning Run", "Evening Ride", "Lunch Swim", "Hill Repeats", "Easy Walk", "Long Run", "Tempo"]
BASE_ID = 10_000_000_000  # real Garmin ids exceed 2**31
EPOCH = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def make_account(session: Session, name: str = "default", **values: Any) -> Account:
    account = Account(
        name=name,
        email=values.pop("email", "athlete@example.com"),
        display_name=values.pop("display_name", "athlete"),
        full_name=values.pop("full_name", "Alex Athlete"),
        token_state=values.pop("token_state", TokenState.VALID),
        **values,
    )
    session.add(account)
    session.flush()
    return account


def state_for(i: int) -> str:
    """Mostly archived, some missing, a few failed and without file."""
    bucket = i % 100
    if bucket < 80:
        return DownloadState.DOWNLOADED
    if bucket < 92:
        return DownloadState.MISSING
    if bucket < 97:
        return DownloadState.FAILED
    return DownloadState.NO_FILE


def activity_values(account_id: int, i: int, rng: random.Random) -> dict[str, Any]:
    start = EPOCH - timedelta(hours=9 * i + rng.randint(0, 5))
    state = state_for(i)
    activity_id = BASE_ID + i
    done = state == DownloadState.DOWNLOADED
    return {
        "id": activity_id,
        "account_id": account_id,
        "name": f"{NAMES[i % len(NAMES)]} {i}",
        "activity_type": TYPES[i % len(TYPES)],
        "start_time": start,
        "start_time_local": start.replace(tzinfo=None) + timedelta(hours=1),
        "duration_s": 600.0 + rng.randint(0, 7200),
        "distance_m": float(rng.randint(0, 42_000)),
        "manual": state == DownloadState.NO_FILE,
        "deleted_upstream": False,
        "state": state,
        "attempts": 5 if state == DownloadState.FAILED else (1 if done else 0),
        "last_error": "gave up after 5 attempts: Garmin failed (HTTP 500)"
        if state == DownloadState.FAILED
        else None,
        "file_format": "fit" if done else None,
        "file_path": f"fit/activity_{activity_id}_{start:%Y-%m-%dT%H-%M-%SZ}.fit" if done else None,
        "file_size": 20_000 + i % 5000 if done else None,
        "sha256": f"{i:064x}" if done else None,
        "downloaded_at": start + timedelta(hours=1) if done else None,
        "created_at": start,
        "updated_at": start,
    }


def seed_activities(session: Session, account_id: int, count: int, seed: int = 1, offset: int = 0) -> None:
    rng = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for i in range(offset, offset + count):
        batch.append(activity_values(account_id, i, rng))
        if len(batch) >= 5000:
            session.execute(insert(Activity), batch)
            batch = []
    if batch:
        session.execute(insert(Activity), batch)


def seed_runs(session: Session, account_id: int, count: int) -> list[int]:
    ids = []
    for i in range(count):
        started = EPOCH - timedelta(hours=6 * i)
        status = "success" if i % 5 else ("partial" if i % 10 else "error")
        run = SyncRun(
            account_id=account_id,
            trigger=["schedule", "cli", "web"][i % 3],
            full=i % 7 == 0,
            status=status,
            started_at=started,
            finished_at=started + timedelta(minutes=2),
            list_requests=1,
            found=10 + i,
            new=i % 4,
            queued=i % 4,
            downloaded=i % 4 if status != "error" else 0,
            failed=1 if status == "partial" else 0,
            message="Garmin rejected the stored tokens" if status == "error" else "all good",
        )
        session.add(run)
        session.flush()
        ids.append(run.id)
    return ids


def seed_tasks(session: Session, account_id: int, count: int) -> list[str]:
    ids = []
    for i in range(count):
        queued = EPOCH - timedelta(minutes=3 * i)
        state = ["succeeded", "failed", "started", "queued", "retried"][i % 5]
        download = i % 3 != 0
        task_id = f"{i:08d}-0000-4000-8000-{i:012d}"
        session.add(
            TaskRun(
                task_id=task_id,
                name="garminsync.download_activity" if download else "garminsync.sync_account",
                state=state,
                args=f"[{BASE_ID + i}, null]" if download else f'{{"account_id": {account_id}}}',
                account_id=account_id,
                activity_id=BASE_ID + i if download else None,
                worker="celery@worker-1" if state != "queued" else None,
                queue="downloads" if download else "sync",
                retries=1 if state == "retried" else 0,
                error="TransientError: Garmin failed (HTTP 500)" if state == "failed" else None,
                queued_at=queued,
                started_at=queued + timedelta(seconds=1) if state != "queued" else None,
                finished_at=queued + timedelta(seconds=3) if state in ("succeeded", "failed") else None,
                runtime_s=2.0 + i % 3 if state in ("succeeded", "failed") else None,
                updated_at=queued,
            )
        )
        ids.append(task_id)
    session.flush()
    return ids


def seed_schedule(session: Session, account_id: int, cron: str = "0 */6 * * *", enabled: bool = True) -> None:
    session.add(Schedule(account_id=account_id, cron=cron, enabled=enabled))
    session.flush()


# --- apps for the dashboard's tests --------------------------------------------------


class FakeBroker:
    """Stands in for Celery/Redis: records what was queued; `up = False` is Redis down."""

    def __init__(self) -> None:
        self.up = True
        self.syncs: list[tuple[int, int, bool]] = []
        self.downloads: list[int] = []
        self.revoked: list[str] = []
        self.mirrored = 0

    def _check(self) -> None:
        from shared.errors import BrokerUnavailable

        if not self.up:
            raise BrokerUnavailable("Redis is unreachable (test)")

    def enqueue_sync(self, account_id: int, run_id: int, full: bool, filters: Any) -> str:
        self._check()
        self.syncs.append((account_id, run_id, full))
        return f"sync-task-{run_id}"

    def enqueue_downloads(self, activity_ids: list[int], run_id: int | None = None) -> None:
        self._check()
        self.downloads.extend(activity_ids)

    def revoke(self, task_id: str) -> None:
        self._check()
        self.revoked.append(task_id)

    def redis_ping(self) -> bool:
        return self.up

    def mirror_schedules(self) -> bool:
        self._check()
        self.mirrored += 1
        return True

    def health(self) -> Any:
        from services.web.broker import BrokerHealth, WorkerInfo

        if not self.up:
            return BrokerHealth("redis", False, "Redis is unreachable", [], {})
        worker = WorkerInfo("celery@worker-1", [{"id": "t-1", "name": "garminsync.download_activity"}])
        return BrokerHealth("redis", True, None, [worker], {"sync": 1, "downloads": 5})


def web_settings(tmp_path: Any, **env: str) -> Any:
    """Settings from a clean environment (no `.env` file is read)."""
    from shared.config import load_settings

    base = {"GARMINSYNC_DATA_DIR": str(tmp_path / "data"), "GARMINSYNC_LOGIN_BACKOFF": "0"}
    base.update(env)
    return load_settings(environ=base, env_file=tmp_path / "no.env")


def csrf_headers(client: Any) -> dict[str, str]:
    """The CSRF token for this client's session, as the X-CSRFToken header."""
    return {"X-CSRFToken": client.get("/api/csrf").get_json()["csrf_token"]}


def seed_store(db_url: str, activities: int = 120, runs: int = 30, tasks: int = 40) -> dict[str, Any]:
    """The default account with activities, runs, tasks and a schedule; returns handy ids."""
    from shared.db import create_session, ensure_schema

    ensure_schema(db_url)
    with create_session(db_url) as session:
        account = make_account(session)
        seed_activities(session, account.id, activities)
        run_ids = seed_runs(session, account.id, runs)
        task_ids = seed_tasks(session, account.id, tasks)
        seed_schedule(session, account.id)
        return {"account_id": account.id, "run_ids": run_ids, "task_ids": task_ids}

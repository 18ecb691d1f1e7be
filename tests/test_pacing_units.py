"""The dispatcher's decisions, on SQLite and the in-process coordinator (no broker).

The same class runs in every worker against Redis; tests/test_pacing.py
drives it through real workers. Here each rule is checked on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from shared.backlog import expire_leases, release_account
from shared.coordination import LocalCoordinator
from shared.db import create_session, ensure_schema
from shared.extras import Wants
from shared.models import Account, Activity, ActivityFile, DownloadState, SyncRun, TokenState
from shared.pacing import Dispatcher, listing_flag, share_out
from shared.ratelimit import RateLimiter, account_key
from shared.ratelimit_spec import parse_rate
from shared.runs import close_lost_runs, close_settled_runs

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'pacing.db'}"
    ensure_schema(url)
    return url


def add_account(db_url: str, name: str, backlog: int, run: bool = True, **values: object) -> tuple[int, int]:
    """An account with `backlog` queued activities (claimed by one run); (account id, run id)."""
    with create_session(db_url) as session:
        account = Account(name=name, token_state=values.pop("token_state", TokenState.VALID))
        session.add(account)
        session.flush()
        sync = SyncRun(
            account_id=account.id, trigger="cli", status="running", queued=backlog, list_requests=1
        )
        session.add(sync)
        session.flush()
        base = 20_000_000_000 + account.id * 1_000_000
        for i in range(backlog):
            session.add(
                Activity(
                    id=base + i,
                    account_id=account.id,
                    start_time=EPOCH + timedelta(hours=i),
                    state=DownloadState.QUEUED,
                    queued_at=datetime.now(UTC),
                    run_id=sync.id if run else None,
                )
            )
        return account.id, sync.id


class Recorder:
    def __init__(self) -> None:
        self.published: list[int] = []

    def __call__(self, ids: list[int]) -> None:
        self.published.extend(ids)


def dispatcher(
    db_url: str,
    coordinator: LocalCoordinator,
    rate: str = "10/minute",
    global_rate: str | None = None,
    worker: str = "w1",
) -> tuple[Dispatcher, Recorder, RateLimiter]:
    limiter = RateLimiter(
        coordinator,
        parse_rate(rate),
        global_rate=parse_rate(global_rate) if global_rate else None,
        margin_ms=0,
    )
    recorder = Recorder()
    return (
        Dispatcher(
            db_url, limiter, coordinator, recorder, worker=worker, downloading_lease_s=960, max_wait_s=5
        ),
        recorder,
        limiter,
    )


def by_account(ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for activity_id in ids:
        account = (activity_id - 20_000_000_000) // 1_000_000
        counts[account] = counts.get(account, 0) + 1
    return counts


def test_publishes_only_what_the_budget_admits_and_counts_published_tasks(db_url: str) -> None:
    add_account(db_url, "a", backlog=100)
    coordinator = LocalCoordinator()
    pacer, recorder, limiter = dispatcher(db_url, coordinator, "10/minute")
    assert pacer.tick() == 10
    assert pacer.tick() == 0  # those 10 are published, not yet started: they hold the budget
    # The workers run them: each takes its slot; the window is now full for a minute.
    for _ in range(10):
        limiter.acquire(account_key(1))
    with create_session(db_url) as session:
        for activity in session.scalars(select(Activity).where(Activity.id.in_(recorder.published))):
            activity.state = DownloadState.DOWNLOADED
    assert pacer.tick() == 0
    assert len(recorder.published) == len(set(recorder.published)) == 10
    # Newest first.
    assert recorder.published == sorted(recorder.published, reverse=True)


def test_a_slot_freeing_within_the_lookahead_is_published_ahead(db_url: str) -> None:
    add_account(db_url, "a", backlog=10)
    coordinator = LocalCoordinator()
    pacer, _recorder, limiter = dispatcher(db_url, coordinator, "2/second")
    limiter.acquire(account_key(1))
    limiter.acquire(account_key(1))
    # Both slots free within the next second: the tasks can be on their way already.
    assert pacer.tick() == 2


def test_each_account_has_its_own_budget(db_url: str) -> None:
    add_account(db_url, "big", backlog=500)
    add_account(db_url, "small", backlog=1)
    add_account(db_url, "medium", backlog=20)
    pacer, recorder, _ = dispatcher(db_url, LocalCoordinator(), "10/minute")
    pacer.tick()
    assert by_account(recorder.published) == {1: 10, 2: 1, 3: 10}


def test_a_global_budget_is_shared_out_in_turn(db_url: str) -> None:
    for name in ("a", "b", "c"):
        add_account(db_url, name, backlog=50)
    coordinator = LocalCoordinator()
    pacer, recorder, _limiter = dispatcher(db_url, coordinator, "10/minute", global_rate="12/minute")
    pacer.tick()
    assert by_account(recorder.published) == {1: 4, 2: 4, 3: 4}
    assert share_out({1: 5, 2: 1, 3: 5}, 7, start=0) == ({1: 3, 2: 1, 3: 3}, 3)
    assert share_out({1: 5, 2: 5}, 3, start=1) == ({2: 2, 1: 1}, 2)  # the turn moves on
    assert share_out({1: 5, 2: 5, 3: 5}, 4, start=0) == ({1: 2, 2: 1, 3: 1}, 1)  # next begins at 2
    assert share_out({1: 2}, 0, start=0) == ({}, 0)


def test_accounts_listing_or_needing_login_wait(db_url: str) -> None:
    add_account(db_url, "listing", backlog=5)
    add_account(db_url, "locked", backlog=5, token_state=TokenState.NEEDS_LOGIN)
    add_account(db_url, "free", backlog=5)
    coordinator = LocalCoordinator()
    coordinator.set_flag(listing_flag(1), 60_000)
    pacer, recorder, _ = dispatcher(db_url, coordinator)
    pacer.tick()
    assert by_account(recorder.published) == {3: 5}
    coordinator.clear_flag(listing_flag(1))
    pacer.tick()
    assert by_account(recorder.published) == {3: 5, 1: 5}


def test_a_cool_down_stops_publishing(db_url: str) -> None:
    add_account(db_url, "a", backlog=5)
    coordinator = LocalCoordinator()
    pacer, _recorder, limiter = dispatcher(db_url, coordinator)
    limiter.note_429(account_key(1), retry_after=30)
    assert pacer.tick() == 0


def test_back_off_is_honoured(db_url: str) -> None:
    add_account(db_url, "a", backlog=2)
    with create_session(db_url) as session:
        first = session.scalars(select(Activity).order_by(Activity.id)).first()
        assert first is not None
        first.not_before = datetime.now(UTC) + timedelta(seconds=60)
    pacer, recorder, _ = dispatcher(db_url, LocalCoordinator())
    assert pacer.tick() == 1
    assert first.id not in recorder.published


def test_only_the_leader_publishes(db_url: str) -> None:
    add_account(db_url, "a", backlog=20)
    coordinator = LocalCoordinator()
    one, published_one, _ = dispatcher(db_url, coordinator, worker="w1")
    two, published_two, _ = dispatcher(db_url, coordinator, worker="w2")
    one.tick()
    two.tick()
    assert len(published_one.published) == 10 and published_two.published == []


def test_tasks_lost_with_redis_are_published_again_after_a_window(db_url: str) -> None:
    add_account(db_url, "a", backlog=4)
    pacer, recorder, _ = dispatcher(db_url, LocalCoordinator())
    assert pacer.tick() == 4
    # A coordinator without its epoch marker: as after Redis was emptied mid-work.
    fresh_coordinator = LocalCoordinator(epoch=False)
    fresh, recorder2, limiter = dispatcher(db_url, fresh_coordinator)
    assert fresh.tick() == 0  # what was spent is unknown: the budget counts as spent for a window
    assert limiter.free_slots(account_key(1), 0) == 0
    with create_session(db_url) as session:
        assert session.scalars(select(Activity.dispatched_at)).all() == [None] * 4
    # Once the window has passed they go out again (here: a log a window old).
    fresh_coordinator._logs[account_key(1)].clear()
    assert fresh.tick() == 4
    assert sorted(recorder2.published) == sorted(recorder.published)


def test_a_new_redis_with_nothing_under_way_costs_no_window(db_url: str) -> None:
    add_account(db_url, "a", backlog=3, run=False)  # asked-for downloads, no sync running
    with create_session(db_url) as session:
        for run in session.scalars(select(SyncRun)):
            run.status = "success"
    pacer, _recorder, _ = dispatcher(db_url, LocalCoordinator(epoch=False))
    assert pacer.tick() == 3


def test_an_emptied_redis_lets_no_request_out_before_recovery(db_url: str, redis_url: str) -> None:
    """A real Redis: after FLUSHALL every check answers LOST until the store's view is put back."""
    import redis

    from shared.coordination import LOST, RedisCoordinator
    from shared.recovery import recover_lost_state

    add_account(db_url, "a", backlog=5)  # a sync under way
    coordinator = RedisCoordinator(redis_url)
    limiter = RateLimiter(coordinator, parse_rate("10/minute"), margin_ms=0)
    limiter.recover = lambda: recover_lost_state(db_url, limiter, coordinator)
    coordinator.set_epoch()
    limiter.acquire(account_key(1))  # a normal slot
    redis.Redis.from_url(redis_url).flushall()
    windows = limiter.windows(account_key(1))
    assert coordinator.try_acquire(account_key(1), windows) == LOST
    assert coordinator.free_slots(account_key(1), windows[0], 1000) == 0
    from shared.errors import RateLimited

    with pytest.raises(RateLimited):  # recovery ran, and counted the window as spent
        limiter.acquire(account_key(1), max_wait=1)
    assert coordinator.has_epoch()
    assert limiter.free_slots(account_key(1), 0) == 0


@pytest.mark.parametrize(("ended_s_ago", "published"), [(20, 0), (120, 3)])
def test_a_redis_emptied_right_after_a_burst_still_counts_the_window_as_spent(
    db_url: str, ended_s_ago: int, published: int
) -> None:
    """Nothing is downloading at the instant Redis is emptied, but downloads ended within the
    window (10/minute): Garmin still counts them, so the new Redis must too (docs/DECISIONS.md, 15).
    Downloads older than the window cost nothing."""
    add_account(db_url, "a", backlog=6, run=False)  # asked-for downloads: no sync running
    with create_session(db_url) as session:
        for run in session.scalars(select(SyncRun)):
            run.status = "success"
        for activity in session.scalars(select(Activity).limit(3)):
            activity.state = DownloadState.DOWNLOADED
            activity.downloaded_at = datetime.now(UTC) - timedelta(seconds=ended_s_ago)
    fresh, _recorder, _limiter = dispatcher(db_url, LocalCoordinator(epoch=False))
    assert fresh.tick() == published


def test_expired_leases_and_settled_or_lost_runs(db_url: str) -> None:
    _, run_id = add_account(db_url, "a", backlog=3)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with create_session(db_url) as session:
        rows = list(session.scalars(select(Activity).order_by(Activity.id)))
        rows[0].dispatched_at = long_ago  # published two hours ago, never started
        rows[1].state, rows[1].dispatched_at = DownloadState.DOWNLOADING, long_ago  # started, never ended
        rows[2].state = DownloadState.DOWNLOADED
        lost = SyncRun(account_id=1, trigger="schedule", status="running", started_at=long_ago)
        session.add(lost)
    with create_session(db_url) as session:
        assert expire_leases(session, datetime.now(UTC), downloading_lease_s=960) == 2
        assert close_settled_runs(session) == 0  # two are queued again: the run goes on
        assert close_lost_runs(session, older_than_s=3600) == 1
        assert release_account(session, 1) == 2
        assert close_settled_runs(session) == 1
    with create_session(db_url) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None and run.status == "partial"
        assert "handed back" in (run.message or "")
        states = sorted(session.scalars(select(Activity.state)))
        assert states == ["downloaded", "missing", "missing"]


def test_status_tells_what_waits_for_the_budget(db_url: str, tmp_path: Path) -> None:
    from shared.config import load_settings
    from shared.reports import status_report
    from shared.runtime import Runtime

    add_account(db_url, "a", backlog=90)
    settings = load_settings(
        {"GARMINSYNC_DATA_DIR": str(tmp_path), "DATABASE_URL": db_url, "GARMINSYNC_RATE_LIMIT": "30/minute"}
    )
    runtime = Runtime.build(settings)
    pacer = Dispatcher(
        db_url, runtime.limiter, runtime.coordinator, Recorder(), worker="w", downloading_lease_s=960,
        max_wait_s=5,
    )  # fmt: skip
    pacer.tick()
    backlog = status_report(runtime, 1)["backlog"]
    assert backlog == {"waiting": 60, "published": 30, "eta_s": 180}  # 90 at 30/minute


def test_a_detached_broker_connection_does_not_kill_the_worker(redis_url: str) -> None:
    """kombu 5.7 restores unacknowledged messages through a connection Celery already detached."""
    from kombu import Connection

    import services.worker.kombu_patches  # noqa: F401  (what the worker imports)

    connection = Connection(redis_url)
    channel: Any = connection.default_channel
    channel._pool = None  # the channel never built its pool, as in the crash
    channel.qos._delivered["tag-1"] = object()
    channel.connection.client = None  # what kombu's close left behind
    channel.qos.restore_unacked()  # unpatched: AttributeError 'NoneType' has no attribute 'hostname'
    assert not channel.qos._delivered


def test_a_task_ending_after_the_connection_was_lost_does_not_kill_the_worker(redis_url: str) -> None:
    """A download that ends just after Celery closed the broken connection acknowledges through it."""
    from kombu import Connection

    import services.worker.kombu_patches  # noqa: F401  (what the worker imports)

    connection = Connection(redis_url)
    channel: Any = connection.default_channel
    channel._pool = None
    channel.qos._delivered.update({"tag-1": object(), "tag-2": object()})
    channel.connection = None  # what Celery 5.7's close of a broken connection leaves behind
    channel.qos.ack("tag-1")  # unpatched: AttributeError 'NoneType' has no attribute 'client'
    channel.qos.reject("tag-2", requeue=True)
    channel.qos._flush()  # kombu forgets settled messages lazily
    assert not channel.qos._delivered


def test_a_download_costs_the_requests_it_makes(db_url: str) -> None:
    """With GPX, TCX and details wanted a new activity is four requests: the budget admits fewer
    downloads; one that has its original and lacks only one export is one request."""
    account_id, _run = add_account(db_url, "a", backlog=20)
    coordinator = LocalCoordinator()
    pacer, recorder, _limiter = dispatcher(db_url, coordinator, "10/minute")
    pacer.wants = Wants(formats=("gpx", "tcx"), details=True)
    assert pacer.tick() == 2  # 2 x 4 requests fit in 10; a third would need 12
    assert pacer.tick() == 0  # in flight, they hold 8 of the 10 slots
    # An archive made before: the originals and the sidecars are there, only GPX is lacking.
    b_id, _run = add_account(db_url, "b", backlog=20)
    with create_session(db_url) as session:
        for activity in session.scalars(select(Activity).where(Activity.account_id == b_id)):
            activity.sha256, activity.file_format = "0" * 64, "fit"
            session.add(ActivityFile(activity_id=activity.id, format="tcx", sha256="1" * 64, path="x.tcx"))
            session.add(ActivityFile(activity_id=activity.id, format="json", details=True, path="x.json"))
    published = len(recorder.published)
    assert pacer.tick() == 10  # one request each: the whole budget of account b
    assert by_account(recorder.published[published:]) == {b_id: 10}
    assert by_account(recorder.published[:published]) == {account_id: 2}


def test_a_download_costing_more_than_the_budget_is_still_published(db_url: str) -> None:
    add_account(db_url, "a", backlog=5)
    pacer, _recorder, _limiter = dispatcher(db_url, LocalCoordinator(), "2/second")
    pacer.wants = Wants(formats=("gpx", "tcx"), details=True)  # 4 requests, budget 2
    assert pacer.tick() == 1  # charged the whole budget, never more: it waits for its slots in-process

"""The distributed stack: real redis-server, real Celery workers and beat, the simulator.

Every test runs on SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
import redis
from sqlalchemy import func, select

from services.simulator.stats import max_requests_in_window
from shared.db import create_session
from shared.models import Account, SyncRun, TaskRun
from tests.conftest import SQLITE_ONLY, downloads_requested, filtered_set, token_values
from tests.servers import free_port
from tests.stack import Stack, StackFactory, wait_until

pytestmark = pytest.mark.integration


def sync(stack: Stack, *args: str) -> dict:
    return stack.sync(*args)


def test_full_archive_through_the_queues(stack: Stack) -> None:
    stack.procs.worker("w1")
    stack.procs.worker("w2")
    summary = sync(stack, "--wait")
    assert summary["status"] == "success"
    assert summary["downloaded"] == stack.with_file()
    assert stack.archived_all()
    stack.assert_archive_sound()
    with create_session(stack.db_url) as session:
        runs = session.execute(select(TaskRun.name, TaskRun.state, TaskRun.queue, TaskRun.worker)).all()
    downloads = [r for r in runs if r.name == "garminsync.download_activity"]
    assert len(downloads) == len(stack.storable())
    assert {r.state for r in downloads} == {"succeeded"}
    assert {r.queue for r in downloads} == {"downloads"}
    assert {r.worker.split("@")[0] for r in downloads} == {"w1", "w2"}  # both workers took work
    assert [r.queue for r in runs if r.name == "garminsync.sync_account"] == ["sync"]
    # Tasks carry ids: no token or key reaches a log, a row or Redis.
    stack.assert_no_secrets(token_values(stack.cli.env) | {stack.cli.env["GARMINSYNC_SECRET_KEY"]})
    # Idempotent: a second sync finds everything and costs one list request.
    stack.sim.state.reset_stats()
    again = sync(stack, "--wait")
    assert again["downloaded"] == 0
    assert stack.sim.state.stats()["total"] == 1


@SQLITE_ONLY
def test_one_rate_limit_for_all_workers(make: StackFactory) -> None:
    # A loaded 2-core CI box can delay a request by a few hundred ms between taking its slot
    # and reaching the server; the margin must cover that delay's spread (README: settings).
    stack = make(
        activities=50, latency_ms=100, GARMINSYNC_RATE_LIMIT="8/second", GARMINSYNC_RATE_MARGIN_MS="300"
    )
    for name in ("w1", "w2", "w3"):
        stack.procs.worker(name, concurrency=2)
    sync(stack, "--wait")
    assert stack.archived_all()
    times = [r[0] for r in stack.sim.state.stats()["requests"]]
    assert max_requests_in_window(times, 1.0) <= 8
    rate = len(times) / (times[-1] - times[0])
    assert rate > 5  # six slots across three workers keep the budget busy (8 per 1.3 s at most)


@SQLITE_ONLY
def test_a_429_storm_gets_a_cooldown_not_a_loop(stack: Stack) -> None:
    stack.procs.worker("w1")
    stack.procs.worker("w2")
    stack.sim.state.set_faults({"match": "download", "status": 429, "count": -1, "body": "html"})
    started = stack.cli.subprocess("sync")
    assert started.returncode == 0
    wait_until(lambda: stack.sim.state.stats()["statuses"].get("429", 0) >= 1, 30, what="first 429")
    time.sleep(4)  # on purpose: the storm lasts four seconds; a retry loop would fill them with requests
    stack.sim.state.clear_faults()
    storm = [r for r in stack.sim.state.stats()["requests"] if r[3] == 429]
    # Four slots were busy when the storm began; after that, cool-downs of 1, 2, 4 s.
    assert len(storm) <= 10, f"{len(storm)} requests during the storm"
    first = storm[0][0]
    during_first_cooldown = [
        r for r in stack.sim.state.stats()["requests"] if first + 0.3 < r[0] < first + 0.9
    ]
    assert during_first_cooldown == []
    wait_until(stack.archived_all, 60, what="archive after the storm")
    stack.assert_archive_sound()


@SQLITE_ONLY
def test_kill_9_of_a_worker_costs_only_a_retry(make: StackFactory) -> None:
    stack = make(activities=40, latency_ms=250, GARMINSYNC_RATE_LIMIT="10/second")
    stack.procs.worker("victim", concurrency=2)
    stack.procs.worker("survivor", concurrency=2)
    assert stack.cli.subprocess("sync").returncode == 0
    wait_until(lambda: stack.count("downloaded") >= 6, 60, what="some downloads")
    stack.procs.kill9("victim")
    stack.procs.worker("victim2", concurrency=2)  # what a supervisor would do
    wait_until(stack.archived_all, 120, what="every activity archived after the kill")
    stack.assert_archive_sound()
    with create_session(stack.db_url) as session:
        stuck = session.scalar(
            select(func.count()).select_from(TaskRun).where(TaskRun.state.in_(["started", "queued"]))
        )
    assert stuck == 0
    assert set(stack.states().values()) == {"downloaded", "no_file"}


def started_downloads(stack: Stack, worker: str) -> dict[str, int]:
    """Download task ids `started` on the node `worker@…`, with their activity ids."""
    with create_session(stack.db_url) as session:
        rows = session.execute(
            select(TaskRun.task_id, TaskRun.activity_id).where(
                TaskRun.name == "garminsync.download_activity",
                TaskRun.state == "started",
                TaskRun.worker.startswith(f"{worker}@"),
            )
        ).tuples()
        return {task_id: int(activity_id) for task_id, activity_id in rows if activity_id is not None}


def test_a_restarted_worker_marks_its_own_started_tasks_lost_and_hands_them_back(
    sqlite_make: StackFactory,
) -> None:
    stack = sqlite_make(activities=10, latency_ms=1000)  # a download takes a second
    stack.procs.worker("victim", concurrency=2)
    assert stack.cli.subprocess("sync").returncode == 0
    wait_until(lambda: started_downloads(stack, "victim"), 60, what="a download under way")
    stack.procs.kill9("victim")  # mid-download, pool and all
    died = started_downloads(stack, "victim")
    assert died
    # The same node name starts again (a supervisor restarting it): it knows those were its own.
    stack.procs.worker("victim-restarted", hostname="victim@%h")
    stack.procs.wait_for_line(
        "victim-restarted", f"{len(died)} download(s) this worker was running when it stopped go back"
    )
    with create_session(stack.db_url) as session:
        query = select(TaskRun.task_id, TaskRun.state).where(TaskRun.task_id.in_(died))
        marked = dict(session.execute(query).tuples().all())
    assert marked == dict.fromkeys(died, "lost")
    wait_until(stack.archived_all, 60, what="every activity archived")
    assert all(stack.states()[activity_id] == "downloaded" for activity_id in died.values())
    stack.assert_archive_sound()
    run = stack.wait_closed(stack.runs()[-1].id)
    assert run.status == "success", run.message


@SQLITE_ONLY
def test_redis_emptied_midway_loses_no_schedule_and_no_activity(make: StackFactory) -> None:
    stack = make(activities=40, latency_ms=200, GARMINSYNC_RATE_LIMIT="8/second")
    assert stack.cli.subprocess("schedule", "set", "0 3 * * *").returncode == 0
    client = redis.Redis.from_url(stack.redis.url)
    key = "garminsync:redbeat:sync-account-1"
    assert client.exists(key)
    stack.procs.beat()
    stack.procs.worker("w1")
    assert stack.cli.subprocess("sync").returncode == 0
    wait_until(lambda: stack.count("downloaded") >= 5, 60, what="some downloads")
    stack.redis.restart()  # an empty Redis on the same port: queues and schedules gone
    client = redis.Redis.from_url(stack.redis.url)
    wait_until(lambda: client.exists(key), 30, what="beat restoring the schedule")
    entry = json.loads(client.hget(key, "definition"))
    assert entry["task"] == "garminsync.sync_account"
    assert entry["kwargs"]["account_id"] == 1
    # Lost messages: the workers' dispatcher notices the empty Redis and publishes them again.
    wait_until(stack.archived_all, 90, what="every activity archived after the flush")
    stack.assert_archive_sound()


@SQLITE_ONLY
def test_expiring_tokens_one_refresh_per_expiry(make: StackFactory) -> None:
    stack = make(activities=60, latency_ms=100, GARMINSYNC_RATE_LIMIT="6/second")
    # Tokens valid for 906 s: garminsync refreshes 900 s early, so every ~6 s.
    stack.sim.state.configure(token_ttl=906)
    fresh = json.dumps(stack.sim.state.issue_tokens(ttl=906))
    assert stack.cli.subprocess("login", "--tokens", fresh).returncode == 0
    for name in ("w1", "w2", "w3"):
        stack.procs.worker(name)
    sync(stack, "--wait")
    assert stack.archived_all()
    stats = stack.sim.state.stats()
    refreshes = sorted(r[0] for r in stats["requests"] if r[1] == "token_refresh")
    duration = stats["requests"][-1][0] - stats["requests"][0][0]
    assert stats["refresh_refused"] == 0 and stats["logins"] == 0
    assert stats["statuses"].get("401", 0) == 0  # no worker was ever logged out
    assert 1 <= len(refreshes) <= duration / 5 + 1
    gaps = [b - a for a, b in itertools.pairwise(refreshes)]
    assert all(gap > 4 for gap in gaps), gaps  # never two refreshes for one expiry


@SQLITE_ONLY
def test_refused_refresh_pauses_the_account_without_a_login_storm(stack: Stack) -> None:
    stack.sim.state.configure(latency_ms=200)
    for name in ("w1", "w2"):
        stack.procs.worker(name)
    assert stack.cli.subprocess("sync").returncode == 0
    wait_until(lambda: stack.count("downloaded") >= 4, 60, what="some downloads")
    stack.sim.state.revoke_access_tokens()
    stack.sim.state.revoke_refresh_tokens()
    mark = time.time()
    with create_session(stack.db_url) as session:
        wait_until(
            lambda: (
                session.scalar(select(Account.token_state).execution_options(populate_existing=True))
                == "needs_login"
            ),
            30,
            what="account marked needs_login",
        )
    # Handed back, not retried: nothing of the account is queued or downloading, its run is closed.
    wait_until(lambda: stack.count("queued") + stack.count("downloading") == 0, 30, what="handed back")
    run = stack.wait_closed(stack.runs()[-1].id, 30)
    assert run.status == "error" and "login" in (run.message or "")
    time.sleep(2)  # on purpose: workers that kept knocking would show in these seconds
    after = [r for r in stack.sim.state.stats()["requests"] if r[0] >= mark]
    token_calls = [r for r in after if r[1] in ("token_refresh", "token_exchange", "login")]
    assert len(token_calls) == 1, token_calls  # one refused refresh, then silence
    # Only requests already in flight (4 slots) met the dead token, each retried once by garminconnect.
    assert len([r for r in after if r[3] == 401 and r[1] == "download"]) <= 8
    status = json.loads(stack.cli.subprocess("status", "--json").stdout)
    assert status["account"]["token_state"] == "needs_login"
    # A new login lets the next sync finish the job.
    fresh = json.dumps(stack.sim.state.issue_tokens())
    assert stack.cli.subprocess("login", "--tokens", fresh).returncode == 0
    sync(stack, "--wait")
    assert stack.archived_all()


@SQLITE_ONLY
def test_without_redis_the_cli_reads_and_refuses_to_enqueue(stack: Stack) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    status = stack.cli.subprocess("status", "--json", REDIS_URL=dead)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["mode"] == "redis"
    assert stack.cli.subprocess("list", "--offline", REDIS_URL=dead).returncode == 0
    refused = stack.cli.subprocess("sync", REDIS_URL=dead)
    assert refused.returncode == 5
    assert "nothing was queued" in refused.stderr and "Traceback" not in refused.stderr
    with create_session(stack.db_url) as session:  # a refusal is not a run, as on the dashboard
        assert session.scalars(select(SyncRun)).first() is None


def test_two_syncs_at_once_never_queue_an_activity_twice(stack: Stack) -> None:
    first = stack.cli.subprocess("sync")
    second = stack.cli.subprocess("sync")
    assert first.returncode == second.returncode == 0
    stack.procs.worker("w1", concurrency=4)  # both syncs run at once on one worker
    wait_until(stack.archived_all, 60, what="archive")
    with create_session(stack.db_url) as session:
        wait_until(
            lambda: all(
                r.status != "running"
                for r in session.scalars(select(SyncRun).execution_options(populate_existing=True))
            ),
            30,
            what="runs closed",
        )
        downloads = session.scalar(
            select(func.count()).select_from(TaskRun).where(TaskRun.name == "garminsync.download_activity")
        )
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
    assert downloads == len(stack.storable())
    assert sorted(run.queued for run in runs) == [0, downloads]  # the other sync claimed nothing
    assert [run.status for run in runs] == ["success", "success"], [r.message for r in runs]


def test_download_missing_with_filters_through_the_workers(sqlite_make: StackFactory) -> None:
    stack = sqlite_make(activities=40, latency_ms=20)
    stack.procs.worker("w1")
    chosen = filtered_set(stack.sim)
    result = stack.cli.subprocess("download", "--missing", *chosen.options, "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["downloaded"] == len(chosen.with_file) >= 2
    assert sorted(downloads_requested(stack.sim)) == sorted(chosen.matching)
    archived = {i for i, state in stack.states().items() if state == "downloaded"}
    assert archived == chosen.with_file
    left = {state for i, state in stack.states().items() if i not in chosen.matching}
    assert left == {"missing"}  # not claimed: the next sync finds them as they were
    assert stack.runs()[-1].status == "success"


@SQLITE_ONLY
def test_a_second_beat_waits_on_the_lock(stack: Stack) -> None:
    assert stack.cli.subprocess("schedule", "set", "0 3 * * *").returncode == 0
    stack.procs.beat("beat1")
    stack.procs.wait_for_line("beat1", "Acquired lock")
    stack.procs.beat("beat2", loglevel="debug")
    # beat2 is up and asking for the lock (wait_for_line fails if it exited instead).
    stack.procs.wait_for_line("beat2", "beat: Acquiring lock")
    # On purpose: a free lock is taken at the first try, so a beat that does not wait
    # would say so within this moment.
    time.sleep(2)
    assert stack.procs.procs["beat2"].poll() is None  # alive
    assert "Acquired lock" not in stack.procs.log("beat2")  # and waiting
    stack.procs.stop_one("beat1")  # a clean stop releases the lock
    stack.procs.wait_for_line("beat2", "Acquired lock", timeout=30)


def test_task_history_marks_lost_runs_and_trims_old_ones(stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    from services.worker.signals import mark_lost, trim_history
    from shared.config import load_settings
    from shared.runtime import Runtime, set_runtime

    set_runtime(Runtime.build(load_settings(stack.procs.env)))
    old = datetime.now(UTC) - timedelta(days=45)
    with create_session(stack.db_url) as session:
        session.add_all([
            TaskRun(task_id="a", name="garminsync.download_activity", state="started", worker="dead@host",
                    activity_id=101, started_at=datetime.now(UTC), updated_at=datetime.now(UTC)),
            TaskRun(task_id="b", name="garminsync.download_activity", state="started", worker="live@host",
                    activity_id=102, started_at=datetime.now(UTC), updated_at=datetime.now(UTC)),
            TaskRun(task_id="c", name="garminsync.sync_account", state="succeeded", updated_at=old),
        ])  # fmt: skip
    try:
        assert mark_lost(worker="dead@host") == [101]  # its activity goes back to the backlog
        assert trim_history() == 1  # GARMINSYNC_TASK_HISTORY_DAYS=30
    finally:
        set_runtime(None)
    with create_session(stack.db_url) as session:
        rows = dict(session.execute(select(TaskRun.task_id, TaskRun.state)).tuples().all())
    assert rows == {"a": "lost", "b": "started"}

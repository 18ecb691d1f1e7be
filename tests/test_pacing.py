"""Pacing at the real shape: budgets whose window is longer than a task may wait, several accounts.

Real redis-server, real `garminsync worker` processes, the real garminconnect
client against the simulator, which enforces each account's Garmin-side
limit itself: a request over the budget would come back as a 429.
"""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import select

from shared.config import load_settings
from shared.db import create_session
from shared.errors import RateLimited
from shared.models import Activity, TaskRun
from shared.ratelimit import account_key
from shared.runtime import Runtime
from tests.conftest import SQLITE_ONLY
from tests.stack import Stack, StackFactory, wait_until

pytestmark = pytest.mark.integration

A = "athlete@example.com"
# The simulator counts a request when it arrives; a loaded 2-core CI box can hold one for a few
# hundred ms between taking its slot and arriving, so the tests pad the window more than the
# default 100 ms (README: GARMINSYNC_RATE_MARGIN_MS). The pacing itself is the same.
MARGIN = {"GARMINSYNC_RATE_MARGIN_MS": "300"}


def limit_garmin(stack: Stack, amount: int, seconds: float, account: str = A) -> None:
    """The simulator answers 429 to any request beyond this budget, as Garmin would."""
    stack.sim.state.configure(rate_limit={"windows": [[amount, seconds]]}, account=account)


def assert_budget_kept(stack: Stack, amount: int, seconds: float, account: str = A) -> None:
    stats = stack.sim.state.stats((seconds,), account=account)
    key = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    assert stats["statuses"].get("429", 0) == 0, stats["statuses"]
    assert stats["max_in_window"][key] <= amount


def assert_readable_logs(stack: Stack) -> None:
    for name in stack.procs.names():
        text = stack.procs.log(name)
        assert "Traceback" not in text, f"{name}:\n{text[-3000:]}"
        assert not re.search(r"\b(ERROR|CRITICAL)\b", text), f"{name}:\n{text[-3000:]}"


def test_a_backlog_at_a_long_window_costs_one_delivery_per_download(sqlite_make: StackFactory) -> None:
    # 12 per 6 s: every window is longer than GARMINSYNC_MAX_WAIT (1 s here), as Garmin's per-minute
    # budget is longer than the default 5 s. Before the dispatcher this shape bounced tasks in a herd.
    stack = sqlite_make(activities=72, latency_ms=50, GARMINSYNC_RATE_LIMIT="12/6 seconds", **MARGIN)
    limit_garmin(stack, 12, 6)
    stack.procs.worker("w1")
    stack.procs.worker("w2")
    result = stack.cli.subprocess("download", "--missing", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert stack.archived_all()
    stack.assert_archive_sound()
    [run] = stack.runs()
    assert run.status == "success" and run.queued == 72
    assert stack.deliveries() <= 1.3 * run.queued, stack.deliveries()
    assert_budget_kept(stack, 12, 6)
    assert_readable_logs(stack)
    log_bytes = sum(len(stack.procs.log(name).encode()) for name in stack.procs.names())
    assert log_bytes / run.queued < 1000, log_bytes


@SQLITE_ONLY
def test_workers_killed_and_redis_emptied_mid_backlog_lose_nothing(make: StackFactory) -> None:
    stack = make(activities=60, latency_ms=100, GARMINSYNC_RATE_LIMIT="10/4 seconds", **MARGIN)
    limit_garmin(stack, 10, 4)
    stack.procs.worker("w1")
    stack.procs.worker("w2")
    assert stack.cli.subprocess("sync").returncode == 0
    wait_until(lambda: stack.count("downloaded") >= 12, 60, what="a first part archived")
    stack.procs.kill9("w1")  # mid-download: its tasks die with it
    stack.procs.worker("w3")
    wait_until(lambda: stack.count("downloaded") >= 30, 60, what="more archived after the kill")
    stack.redis.restart()  # an empty Redis: every published task is gone
    # No new sync: the workers notice and publish what was lost.
    wait_until(stack.archived_all, 120, what="every activity archived")
    stack.assert_archive_sound()
    wait_until(lambda: stack.runs()[-1].status != "running", 30, what="the run closed")
    assert [run.status for run in stack.runs()] == ["success"]
    assert_budget_kept(stack, 10, 4)
    assert set(stack.states().values()) == {"downloaded", "no_file"}


@SQLITE_ONLY
def test_accounts_are_paced_apart_and_one_needing_login_stalls_no_other(make: StackFactory) -> None:
    stack = make(activities=150, latency_ms=50, GARMINSYNC_RATE_LIMIT="10/5 seconds", **MARGIN)
    stack.add_account("bea", "bea@example.com", activities=6)
    stack.add_account("cem", "cem@example.com", activities=6)
    for email in (A, "bea@example.com", "cem@example.com"):
        limit_garmin(stack, 10, 5, account=email)
    stack.procs.worker("w1")
    stack.procs.worker("w2")
    stack.sync()  # the default account: a backlog of 150, 75 s of budget
    wait_until(lambda: stack.count("downloaded") >= 10, 60, what="the big backlog started")
    stack.sim.state.revoke_access_tokens(account="cem@example.com")
    stack.sim.state.revoke_refresh_tokens(account="cem@example.com")
    stack.sync(account="bea")
    stack.sync(account="cem")

    def bea_done() -> bool:
        return set(stack.account_states("bea").values()) <= {"downloaded", "no_file"}

    wait_until(bea_done, 30, what="the small account archived")
    waiting = sum(1 for state in stack.account_states("default").values() if state == "queued")
    assert waiting > 60, "the small account finished while the big backlog was still far from done"
    by_account = {run.account_id: run for run in stack.runs()}
    wait_until(lambda: stack.runs()[-1].status != "running", 30, what="cem's run closed")
    cem = stack.runs()[-1]
    assert cem.status == "error" and "login" in (cem.message or "")
    assert set(stack.account_states("cem").values()) <= {"missing"}
    assert by_account[1].status == "running"  # the big one goes on
    for email in (A, "bea@example.com"):
        assert_budget_kept(stack, 10, 5, account=email)
    assert_readable_logs(stack)


def test_a_global_budget_is_shared_by_the_accounts(sqlite_make: StackFactory) -> None:
    stack = sqlite_make(
        activities=20,
        latency_ms=50,
        GARMINSYNC_RATE_LIMIT="10/4 seconds",
        **MARGIN,
        GARMINSYNC_GLOBAL_RATE_LIMIT="12/4 seconds",
    )
    stack.add_account("bea", "bea@example.com", activities=20)
    stack.add_account("cem", "cem@example.com", activities=20)
    stack.sim.state.configure(rate_limit={"windows": [[12, 4]]})  # one address for the whole club
    stack.procs.worker("w1")
    stack.procs.worker("w2")
    for name in ("default", "bea", "cem"):
        stack.sync(account=name)
    wait_until(lambda: all(run.list_requests for run in stack.runs()), 30, what="the three listings")

    def downloaded() -> dict[str, int]:
        return {
            name: sum(1 for s in stack.account_states(name).values() if s == "downloaded")
            for name in ("default", "bea", "cem")
        }

    before = downloaded()
    # Two windows of the global budget (24 downloads) once every account has a backlog:
    # dealt in turn, each account gets about a third.
    wait_until(lambda: sum(downloaded().values()) >= sum(before.values()) + 24, 60, what="two windows")
    after = downloaded()
    for name in after:
        # A fair deal is 8 each; downloads published before the snapshot (the accounts listed one
        # after another) may still land in it, so each must get at least half of a fair share.
        if before[name] + 4 <= 20:  # an account that still had work got its turns
            assert after[name] - before[name] >= 4, (before, after)
    wait_until(stack.archived_all, 90, what="the whole club archived")
    stats = stack.sim.state.stats((4.0,))
    assert stats["statuses"].get("429", 0) == 0
    assert stats["max_in_window"]["4"] <= 12
    assert_readable_logs(stack)


def test_handled_garmin_errors_are_one_line_each(sqlite_make: StackFactory) -> None:
    stack = sqlite_make(activities=20, latency_ms=20, GARMINSYNC_RATE_LIMIT="20/second")
    stack.sim.state.set_faults({"match": "download", "status": 500, "count": 3})
    stack.procs.worker("w1")
    stack.sync("--wait")
    assert stack.archived_all()
    assert_readable_logs(stack)  # garminconnect logged each 500 with a traceback at ERROR
    warnings = [
        line
        for name in stack.procs.names()
        for line in stack.procs.log(name).splitlines()
        if "WARNING" in line
    ]
    assert sum("500" in line for line in warnings) >= 3, warnings


def test_a_worker_survives_redis_restarting_under_a_running_download(sqlite_make: StackFactory) -> None:
    stack = sqlite_make(activities=20, latency_ms=20, GARMINSYNC_RATE_LIMIT="20/second")
    stack.sim.state.set_faults({"match": "download", "delay_ms": 3000, "count": 2})  # two slow ones
    worker = stack.procs.worker("w1")
    assert stack.cli.subprocess("sync").returncode == 0
    wait_until(lambda: stack.count("downloading") >= 1, 30, what="a download under way")
    stack.redis.restart()  # its message is unacknowledged (acks_late) when the connection drops
    wait_until(stack.archived_all, 90, what="every activity archived after the restart")
    assert worker.poll() is None, stack.procs.log("w1")[-3000:]  # the worker lived through it
    assert "Unrecoverable error" not in stack.procs.log("w1")


def test_a_download_whose_slot_is_taken_goes_back_to_the_backlog_and_is_archived_later(
    sqlite_make: StackFactory,
) -> None:
    """Another request took the slot a download was published for: after GARMINSYNC_MAX_WAIT (1 s
    here) the task gives up before calling Garmin, the activity waits in the backlog untouched, and
    the dispatcher publishes it again when the budget admits it."""
    stack = sqlite_make(activities=2, latency_ms=20, GARMINSYNC_RATE_LIMIT="3/12 seconds")
    limit_garmin(stack, 3, 12)
    # This worker lists and dispatches but runs no download: what it publishes waits in Redis.
    stack.procs.worker("lister", queues="sync")
    assert stack.cli.subprocess("sync").returncode == 0
    wanted = {a.activity_id for a in stack.storable() if a.kind != "manual"}
    wait_until(lambda: published(stack) == wanted, 60, what="both downloads published")
    # Someone else (another machine on the same account, say) takes every free slot of the window.
    runtime = Runtime.build(load_settings(environ=stack.procs.env, env_file=os.devnull))
    taken = 0
    with pytest.raises(RateLimited):
        while True:
            runtime.limiter.acquire(account_key(1), max_wait=0)
            taken += 1
    assert taken == 2  # the list request holds the third
    stack.procs.worker("downloader", queues="downloads")
    wait_until(stack.archived_all, 60, what="both archived once the window freed")
    stack.assert_archive_sound()
    with create_session(stack.db_url) as session:
        results = session.execute(
            select(TaskRun.activity_id, TaskRun.result).where(TaskRun.name == "garminsync.download_activity")
        ).all()
        attempts = dict(session.execute(select(Activity.id, Activity.attempts)).tuples().all())
    gave_up = sorted(i for i, result in results if "'status': 'retry'" in (result or ""))
    assert gave_up == sorted(wanted), results  # each first delivery went back to the backlog...
    assert {attempts[i] for i in wanted} == {1}  # ...without counting as an attempt
    stats = stack.sim.state.stats()
    assert stats["by_kind"]["download"] == len(wanted)  # Garmin saw each download once
    assert_budget_kept(stack, 3, 12)
    assert stack.wait_closed(stack.runs()[-1].id).status == "success"


def published(stack: Stack) -> set[int]:
    with create_session(stack.db_url) as session:
        return set(session.scalars(select(Activity.id).where(Activity.dispatched_at.is_not(None))))

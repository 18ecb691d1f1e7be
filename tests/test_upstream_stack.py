"""The reconcile on its own schedule, through real beat and a real worker (Redis mode).

Beat mirrors the reconcile into RedBeat as its own entry next to the sync's,
fires it, a worker walks the whole list and flags what Garmin deleted; the
entry comes back after Redis is emptied and goes when it is turned off.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis

from tests.stack import StackFactory, next_minute_cron, wait_until

pytestmark = pytest.mark.integration
SYNC_KEY, RECONCILE_KEY = "garminsync:redbeat:sync-account-1", "garminsync:redbeat:reconcile-account-1"


def test_beat_fires_the_reconcile_from_its_own_entry(sqlite_make: StackFactory) -> None:
    stack = sqlite_make(activities=30)
    client = redis.Redis.from_url(stack.redis.url)

    def definition(key: str) -> dict[str, Any]:
        return json.loads(client.hget(key, "definition") or "null")

    def garminsync(*args: str) -> str:
        done = stack.cli.subprocess(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    stack.procs.worker("w1")
    assert stack.sync("--wait")["status"] == "success"
    gone = next(a.activity_id for a in reversed(stack.storable()) if a.kind == "fit")
    stack.sim.state.delete_activity(gone)

    cron, fires_at = next_minute_cron(lead_s=10)
    later = fires_at + timedelta(hours=12)
    garminsync("schedule", "set", f"{later.minute} {later.hour} * * *")  # the sync: not during the test
    assert definition(SYNC_KEY)["kwargs"] == {"account_id": 1, "trigger": "schedule", "full": False}
    reconcile = definition(RECONCILE_KEY)  # the default reconcile came with the sync schedule
    assert reconcile["kwargs"] == {"account_id": 1, "trigger": "schedule", "full": True}
    assert (reconcile["schedule"]["minute"], reconcile["schedule"]["hour"]) == ("0", "4")
    garminsync("schedule", "set", "--reconcile", cron)
    assert definition(RECONCILE_KEY)["schedule"]["minute"] == str(fires_at.minute)
    shown = json.loads(garminsync("schedule", "show", "--json"))
    assert (shown["reconcile"]["cron"], shown["reconcile"]["enabled"]) == (cron, True)

    stack.procs.beat()
    stack.procs.wait_for_line("beat", "Acquired lock")
    client.delete(SYNC_KEY, RECONCILE_KEY)  # Redis lost them: beat restores both from the database
    wait_until(lambda: client.exists(SYNC_KEY) and client.exists(RECONCILE_KEY), 30, what="both entries")

    wait_until(lambda: len(stack.runs()) >= 2, 120, interval=1, what=f"the reconcile at {fires_at:%H:%M} UTC")
    run = stack.wait_closed(stack.runs()[-1].id)
    assert (run.trigger, run.full, run.status, run.deleted) == ("schedule", True, "success", 1)
    assert stack.states()[gone] == "downloaded"  # flagged, kept
    deleted = json.loads(garminsync("list", "--deleted", "--offline", "--json"))
    assert [a["id"] for a in deleted] == [gone]

    garminsync("schedule", "disable", "--reconcile")
    assert not client.exists(RECONCILE_KEY) and client.exists(SYNC_KEY)
    garminsync("schedule", "disable")  # no scheduled sync: no reconcile either
    garminsync("schedule", "enable", "--reconcile")
    assert not client.exists(SYNC_KEY) and not client.exists(RECONCILE_KEY)
    assert stack.procs.procs["beat"].poll() is None

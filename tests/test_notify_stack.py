"""Notifications through real Celery workers: the run's digest leaves from the `notify` task
(its own queue), once, and nothing secret reaches a task, a log, a row or Redis."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from shared.db import create_session
from shared.models import TaskRun
from tests.conftest import token_values
from tests.receiver import Receiver
from tests.stack import StackFactory, wait_until

pytestmark = pytest.mark.integration


def test_a_runs_digest_arrives_once_from_the_notify_task(sqlite_make: StackFactory) -> None:
    with Receiver() as receiver:
        stack = sqlite_make(activities=25, GARMINSYNC_NOTIFY_URLS=receiver.url)
        stack.procs.worker("w1", queues="sync,downloads,notify")
        stack.procs.worker("w2", queues="sync,downloads,notify", wait=False)
        run_id = stack.sync()["run_id"]
        run = stack.wait_closed(run_id, timeout=120)
        assert run.status == "success" and run.downloaded == stack.with_file()
        (digest,) = receiver.wait_for(1, timeout=30)
        assert digest.title == f"GarminSync: {run.downloaded} new activities (default)"
        assert f"and {run.downloaded - 5} more" in digest.message
        time.sleep(3)  # three more relay rounds of the dispatcher: still one message
        assert len(receiver.messages()) == 1
        with create_session(stack.db_url) as session:
            wait_until(
                lambda: (
                    session.scalar(
                        select(TaskRun.state)
                        .where(TaskRun.name == "garminsync.notify")
                        .execution_options(populate_existing=True)
                    )
                    == "succeeded"
                ),
                20,
                what="the notify task's history",
            )
            task = session.scalars(select(TaskRun).where(TaskRun.name == "garminsync.notify")).one()
        assert task.queue == "notify" and task.activity_id is None
        assert task.args is not None and "notification_id=" in task.args
        stack.assert_no_secrets(receiver.secrets | token_values(stack.cli.env))

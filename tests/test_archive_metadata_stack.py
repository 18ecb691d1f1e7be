"""Extra formats and details through real Celery workers: the dispatcher charges each download the
requests it makes, so the budget holds with three requests per activity, and the manifest follows."""

from __future__ import annotations

import json

import pytest
from defusedxml.ElementTree import fromstring
from sqlalchemy import select

from services.simulator.stats import max_requests_in_window
from shared.db import create_session
from shared.models import Activity, ActivityFile
from tests.stack import StackFactory, wait_until

pytestmark = pytest.mark.integration


def test_formats_details_and_sidecars_through_the_workers(make: StackFactory) -> None:
    stack = make(
        activities=30,
        latency_ms=20,
        GARMINSYNC_RATE_LIMIT="12/second",
        GARMINSYNC_RATE_MARGIN_MS="300",
        GARMINSYNC_FORMATS="fit,gpx",
        GARMINSYNC_SAVE_DETAILS="true",
    )
    stack.procs.worker("w1", concurrency=2)
    stack.procs.worker("w2", concurrency=2)
    summary = stack.sync("--wait")
    assert summary["status"] == "success" and stack.archived_all()
    stack.assert_archive_sound()

    fits = [a for a in stack.storable() if a.kind == "fit"]
    with_file = [a for a in stack.storable() if a.kind != "manual"]
    stats = stack.sim.state.stats()
    kinds = stats["by_kind"]
    assert kinds["download"] == len(stack.storable())  # each original asked once (manual: no file)
    assert kinds["detail"] == len(with_file)
    assert kinds["export"] == len(with_file) - sum(a.kind == "gpx" for a in with_file)
    # Three requests per activity, and the budget still holds for every second.
    ok = [t for t, _kind, _path, status, _account in stats["requests"] if status == 200]
    assert max_requests_in_window(ok, 1.0) <= 12
    assert stats["statuses"].get("429", 0) == 0

    with create_session(stack.db_url) as session:
        originals = dict(session.execute(select(Activity.id, Activity.file_path)).tuples().all())
        beside = {(row.activity_id, row.format): row for row in session.scalars(select(ActivityFile))}
    data = stack.cli.data_dir
    for act in fits:
        stem = originals[act.activity_id].removesuffix(".fit")
        root = fromstring((data / f"{stem}.gpx").read_bytes())
        assert root.tag.endswith("}gpx")
        content = json.loads((data / f"{stem}.json").read_text(encoding="utf-8"))
        assert content["summary"]["activityId"] == act.activity_id
        assert content["details"]["activityId"] == act.activity_id
        assert beside[(act.activity_id, "json")].details is True

    # The leader writes the manifest once the work is done.
    manifest = data / "manifest.json"
    wait_until(manifest.exists, 30, what="the dispatcher wrote manifest.json")
    wait_until(
        lambda: (
            len(json.loads(manifest.read_text())["files"]) == len(originals) + len(beside) - _no_file(stack)
        ),
        30,
        what="the manifest lists every file",
    )
    stack.sim.state.reset_stats()
    assert stack.sync("--wait")["downloaded"] == 0
    assert stack.sim.state.stats()["total"] == 1


def _no_file(stack) -> int:
    """Originals the store knows of that have no file (manual activities)."""
    return sum(a.kind == "manual" for a in stack.storable())

"""`/healthz`, `/readyz` (no login, no data) and Prometheus `/metrics` (login or bearer token).

Metrics are read from the store at scrape time (a custom collector), so every
gunicorn worker answers the same numbers without prometheus' multiprocess
mode; they are gauges because the history tables are pruned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Account, Activity, SyncRun, TaskRun

from .context import WebState, broker_health, web_state
from .extensions import db, db_session
from .queries.system import ping

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
METRICS_TTL_S = 5.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up (no dependency checked)."""
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready to serve: the database answers, and Redis when one is configured."""
    state = web_state()
    checks: dict[str, str] = {}
    ok = True
    try:
        ping(db_session())
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        checks["database"] = "unreachable"
        ok = False
    if state.embedded:
        checks["redis"] = "not configured (embedded mode)"
    elif state.broker.redis_ping():
        checks["redis"] = "ok"
    else:
        checks["redis"] = "unreachable"
        ok = False
    return jsonify({"ok": ok, "checks": checks}), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    state = web_state()
    registry: CollectorRegistry = state.cache.get_or_set("metrics-registry", 3600, lambda: _registry(state))
    body = state.cache.get_or_set("metrics-body", METRICS_TTL_S, lambda: generate_latest(registry))
    return Response(body, mimetype=None, content_type=CONTENT_TYPE)


def _registry(state: WebState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(state))
    return registry


class StoreCollector(Collector):
    """Activities by state, run outcomes, task counts and runtimes, queue lengths."""

    def __init__(self, state: WebState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("garminsync_store_up", "1 when the store answered this scrape")
        try:
            yield from self._from_store(db_session())
            up.add_metric([], 1)
        except Exception as exc:
            log.warning("metrics: store unreachable: %s", exc)
            db.session.rollback()
            up.add_metric([], 0)
        yield up
        yield from self._from_broker()

    def _from_store(self, session: Session) -> Iterator[Metric]:
        names = {
            account_id: name
            for account_id, name in session.execute(select(Account.id, Account.name)).tuples()
        }
        activities = GaugeMetricFamily(
            "garminsync_activities", "Activities in the store by download state", labels=["account", "state"]
        )
        query = select(Activity.account_id, Activity.state, func.count()).group_by(
            Activity.account_id, Activity.state
        )
        for account_id, state, count in session.execute(query).tuples():
            activities.add_metric([names.get(account_id, str(account_id)), state], count)
        yield activities

        archived = GaugeMetricFamily(
            "garminsync_archived_bytes", "Bytes of archived files", labels=["account"]
        )
        query_bytes = (
            select(Activity.account_id, func.coalesce(func.sum(Activity.file_size), 0))
            .where(Activity.state == "downloaded")
            .group_by(Activity.account_id)
        )
        for account_id, total in session.execute(query_bytes).tuples():
            archived.add_metric([names.get(account_id, str(account_id))], float(total or 0))
        yield archived

        runs = GaugeMetricFamily(
            "garminsync_sync_runs", "Sync runs in the history by status", labels=["status"]
        )
        outcomes = GaugeMetricFamily(
            "garminsync_run_downloads",
            "Downloads recorded by the sync runs in the history, by outcome",
            labels=["outcome"],
        )
        row = session.execute(
            select(
                func.coalesce(func.sum(SyncRun.downloaded), 0),
                func.coalesce(func.sum(SyncRun.failed), 0),
                func.coalesce(func.sum(SyncRun.no_file), 0),
            )
        ).one()
        for label, value in zip(("downloaded", "failed", "no_file"), row, strict=True):
            outcomes.add_metric([label], float(value or 0))
        for status, count in session.execute(
            select(SyncRun.status, func.count()).group_by(SyncRun.status)
        ).tuples():
            runs.add_metric([status], count)
        yield runs
        yield outcomes

        tasks = GaugeMetricFamily(
            "garminsync_task_runs", "Task runs in the history", labels=["name", "state"]
        )
        for name, state, count in session.execute(
            select(TaskRun.name, TaskRun.state, func.count()).group_by(TaskRun.name, TaskRun.state)
        ).tuples():
            tasks.add_metric([name, state], count)
        yield tasks

        runtime = SummaryMetricFamily(
            "garminsync_task_runtime_seconds", "Runtime of finished tasks in the history", labels=["name"]
        )
        for name, finished, seconds in session.execute(
            select(TaskRun.name, func.count(), func.coalesce(func.sum(TaskRun.runtime_s), 0.0))
            .where(TaskRun.runtime_s.is_not(None))
            .group_by(TaskRun.name)
        ).tuples():
            runtime.add_metric([name], count_value=finished, sum_value=float(seconds or 0))
        yield runtime

        cooldown = GaugeMetricFamily(
            "garminsync_cooldown_seconds", "Seconds left in an account's Garmin cool-down", labels=["account"]
        )
        for account_id, name in names.items():
            try:
                left = self.state.runtime.limiter.cooldown_remaining(f"account-{account_id}")
            except Exception as exc:  # Redis down: leave the series out of this scrape
                log.debug("metrics: no cool-down for %s: %s", name, exc)
                continue
            cooldown.add_metric([name], left)
        yield cooldown

    def _from_broker(self) -> Iterator[Metric]:
        if self.state.embedded:
            return
        health = broker_health(self.state)
        redis_up = GaugeMetricFamily("garminsync_redis_up", "1 when Redis answers")
        redis_up.add_metric([], 1 if health.redis_ok else 0)
        yield redis_up
        queues = GaugeMetricFamily("garminsync_queue_length", "Messages waiting per queue", labels=["queue"])
        for queue, length in health.queues.items():
            queues.add_metric([queue], length)
        yield queues
        workers = GaugeMetricFamily("garminsync_workers_online", "Celery workers that answered a ping")
        workers.add_metric([], len(health.workers))
        yield workers


def register(app: Flask) -> None:
    app.register_blueprint(bp)

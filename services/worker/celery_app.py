"""The Celery app: a Redis broker, two queues, at-least-once delivery.

Tasks are `@shared_task`s in `tasks.py` and never import this module;
`celery -A services.worker.celery_app worker` finds `app` here. Results are
not kept in Redis: outcomes live in the store (`sync_runs`, `task_runs`).
"""

from __future__ import annotations

from celery import Celery

from services.worker.names import (
    DOWNLOAD_QUEUE,
    DOWNLOAD_TASK,
    NOTIFY_QUEUE,
    NOTIFY_TASK,
    SYNC_QUEUE,
    SYNC_TASK,
)
from shared.config import Settings, load_settings

TASK_SOFT_LIMIT_S = 600
TASK_HARD_LIMIT_S = 900


def celery_config(settings: Settings) -> dict[str, object]:
    broker = settings.redis_url or "memory://"
    # The visibility timeout (GARMINSYNC_VISIBILITY_TIMEOUT, default 2 h) is how long
    # a killed worker's task waits before Redis hands it to another worker. It must
    # exceed every countdown we set (a sync's retry back-off caps at 15 min), or a
    # task that is only waiting for its ETA would be delivered twice. Downloads
    # carry no countdown: the dispatcher publishes them when they may run.
    # kombu scans for such tasks every interval x throttle seconds (100 s by default);
    # scale the scan with the timeout so a short timeout also means a quick recovery.
    scan_s = max(1, min(100, settings.visibility_timeout_s // 8))
    visibility = {
        "visibility_timeout": settings.visibility_timeout_s,
        "unacked_restore_interval": min(10, scan_s),
        "unacked_restore_throttle": max(1, scan_s // 10),
    }
    return {
        "broker_url": broker,
        # Progress and outcomes live in the store (sync_runs, task_runs), not in results.
        "task_ignore_result": True,
        "task_always_eager": settings.embedded,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        # A download is seconds; these bound a hung one so its slot comes back.
        "task_soft_time_limit": TASK_SOFT_LIMIT_S,
        "task_time_limit": TASK_HARD_LIMIT_S,
        # No per-task "sent" event: it doubles the cost of a fan-out, and task_runs
        # already records every task as queued.
        "task_send_sent_event": False,
        "worker_send_task_events": True,
        "broker_transport_options": visibility,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": SYNC_QUEUE,
        "task_routes": {
            SYNC_TASK: {"queue": SYNC_QUEUE},
            DOWNLOAD_TASK: {"queue": DOWNLOAD_QUEUE},
            NOTIFY_TASK: {"queue": NOTIFY_QUEUE},
            "garminsync.*": {"queue": SYNC_QUEUE},
        },
        "timezone": "UTC",
        "enable_utc": True,
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_key_prefix": "garminsync:redbeat:",
        "redbeat_lock_timeout": 60,
        "redbeat_redis_options": {"health_check_interval": 30},
        "beat_max_loop_interval": 5,
        "worker_hijack_root_logger": False,
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("garminsync")
    app.conf.update(celery_config(settings))
    app.autodiscover_tasks(["services.worker"], related_name="tasks", force=True)
    # Importing connects their signals: the dispatcher starts with the worker, handled library
    # errors log one line, the task history is written, and a Redis restart is survived.
    from services.worker import dispatcher, kombu_patches, logs, signals  # noqa: F401

    return app


app = create_celery()

"""The Celery app: Redis broker and results, two queues, at-least-once delivery.

Tasks are `@shared_task`s in `tasks.py` and never import this module's
callers; `celery -A services.worker.celery_app worker` finds `app` here.
"""

from __future__ import annotations

from celery import Celery

from shared.config import Settings, load_settings

SYNC_QUEUE = "sync"
DOWNLOAD_QUEUE = "downloads"
# Longer than any countdown we set (cool-downs and back-offs cap at 15 min), so
# Redis does not re-deliver a task that is only waiting for its ETA.
VISIBILITY_TIMEOUT_S = 2 * 3600


def celery_config(settings: Settings) -> dict[str, object]:
    broker = settings.redis_url or "memory://"
    return {
        "broker_url": broker,
        "result_backend": settings.redis_url or "cache+memory://",
        "task_always_eager": settings.embedded,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        "result_expires": 24 * 3600,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "broker_connection_retry_on_startup": True,
        "task_default_queue": SYNC_QUEUE,
        "task_routes": {
            "garminsync.sync_account": {"queue": SYNC_QUEUE},
            "garminsync.download_activity": {"queue": DOWNLOAD_QUEUE},
            "garminsync.*": {"queue": SYNC_QUEUE},
        },
        "timezone": "UTC",
        "enable_utc": True,
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_key_prefix": "garminsync:redbeat",
        "redbeat_lock_timeout": 60,
        "beat_max_loop_interval": 5,
        "worker_hijack_root_logger": False,
    }


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    app = Celery("garminsync")
    app.conf.update(celery_config(settings))
    app.autodiscover_tasks(["services.worker"], related_name="tasks", force=True)
    import services.worker.signals  # noqa: F401  (connects the task-history signals)

    return app


app = create_celery()

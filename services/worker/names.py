"""Queue and task names, in one place for the worker, the launcher and the dashboard.

Plain constants, so importing them never builds the Celery app.
"""

from __future__ import annotations

SYNC_QUEUE = "sync"
DOWNLOAD_QUEUE = "downloads"
NOTIFY_QUEUE = "notify"  # its own, so a notification never waits behind downloads
QUEUES = (SYNC_QUEUE, DOWNLOAD_QUEUE, NOTIFY_QUEUE)

SYNC_TASK = "garminsync.sync_account"
DOWNLOAD_TASK = "garminsync.download_activity"
NOTIFY_TASK = "garminsync.notify"

"""Queue and task names, in one place for the worker, the launcher and the dashboard.

Plain constants, so importing them never builds the Celery app.
"""

from __future__ import annotations

SYNC_QUEUE = "sync"
DOWNLOAD_QUEUE = "downloads"
QUEUES = (SYNC_QUEUE, DOWNLOAD_QUEUE)

SYNC_TASK = "garminsync.sync_account"
DOWNLOAD_TASK = "garminsync.download_activity"

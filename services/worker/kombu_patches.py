"""One narrow guard around kombu's Redis transport (5.7), so a Redis restart never kills a worker.

When the broker connection drops while a task is unacknowledged (acks_late:
every running download), Celery closes the connection and kombu tries to
put the unacknowledged messages back on the queue through that same, now
detached, connection: `_connparams` reads `connection.client.hostname` of a
transport whose client is already None, raises AttributeError, and Celery
treats it as unrecoverable — the worker exits (and `garminsync daemon`
stops with it). Nothing is lost by skipping that restore: if Redis kept its
data, the messages stay in its unacked set and come back after the
visibility timeout; if it lost them, the dispatcher publishes them again
from the store (shared/recovery.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)


def _guarded(restore: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(restore)
    def restore_unacked(self: Any, client: Any = None) -> Any:
        try:
            return restore(self, client)
        except AttributeError:
            if getattr(getattr(self.channel, "connection", None), "client", None) is not None:
                raise  # not the detached-connection case: a real bug, let it show
            log.warning(
                "broker connection lost with %d task(s) unacknowledged: Redis hands them back "
                "after the visibility timeout, or the dispatcher publishes them again",
                len(self._delivered),
            )
            self._delivered.clear()
            return None

    restore_unacked.garminsync_guarded = True  # type: ignore[attr-defined]
    return restore_unacked


def install() -> None:
    qos: Any = kombu_redis.QoS
    if not getattr(qos.restore_unacked, "garminsync_guarded", False):
        qos.restore_unacked = _guarded(qos.restore_unacked)


install()

"""A narrow guard around kombu's Redis transport (5.7), so a Redis restart never kills a worker.

When the broker connection drops while a task is unacknowledged (acks_late:
every running download), Celery closes the connection, and kombu still goes
through that detached channel afterwards: it restores the unacknowledged
messages, and a task that ends a moment later acknowledges (or rejects) its
message. Each time `_connparams` reads `connection.client` of a channel
whose connection or client is already None, raises AttributeError, and
Celery treats it as unrecoverable — the worker exits (and `garminsync
daemon` stops with it). Nothing is lost by skipping those calls: if Redis
kept its data, the messages stay in its unacked set and come back after the
visibility timeout (a second run of a download finds its file and does
nothing); if it lost them, the dispatcher publishes the backlog again from
the store (shared/recovery.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

log = logging.getLogger(__name__)


def _detached(qos: Any) -> bool:
    return getattr(getattr(qos.channel, "connection", None), "client", None) is None


def _guard_restore(restore: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(restore)
    def restore_unacked(self: Any, client: Any = None) -> Any:
        try:
            return restore(self, client)
        except AttributeError:
            if not _detached(self):
                raise  # not the detached-connection case: a real bug, let it show
            log.warning(
                "broker connection lost with %d task(s) unacknowledged: Redis hands them back "
                "after the visibility timeout, or the dispatcher publishes them again",
                len(self._delivered),
            )
            self._delivered.clear()
            return None

    return restore_unacked


def _guard_settle(settle: Callable[..., Any]) -> Callable[..., Any]:
    """`ack` / `reject` of a message whose channel lost its connection meanwhile."""

    @functools.wraps(settle)
    def guarded(self: Any, delivery_tag: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return settle(self, delivery_tag, *args, **kwargs)
        except AttributeError:
            if not _detached(self):
                raise
            log.warning(
                "a task ended after the broker connection was lost: its message is settled "
                "when Redis hands it back (the task finds its work done)"
            )
            virtual.QoS.ack(self, delivery_tag)  # forget it here; Redis still holds its copy
            return None

    return guarded


def install() -> None:
    qos: Any = kombu_redis.QoS
    if getattr(qos, "garminsync_guarded", False):
        return
    qos.restore_unacked = _guard_restore(qos.restore_unacked)
    qos.ack = _guard_settle(qos.ack)
    qos.reject = _guard_settle(qos.reject)
    qos.garminsync_guarded = True


install()

"""Is this container's process healthy? Docker's healthchecks, and `make up`'s readiness.

0 when healthy, 1 otherwise (Docker reserves other codes).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence

import redis

from shared.config import load_settings
from shared.errors import BrokerUnavailable, GarminSyncError, UsageError

from .preflight import check_redis


def web_serving(url: str, timeout: float = 3.0) -> bool:
    """The web server answers `url` with anything but a 5xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own URL
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def workers_answering(redis_url: str, nodes: Sequence[str], timeout: float = 1.0) -> set[str]:
    """Which of `nodes` (Celery node names) answer a control ping."""
    from celery import Celery

    probe = Celery("garminsync-probe", broker=redis_url)
    try:
        replies = probe.control.ping(destination=list(nodes), timeout=timeout, limit=len(nodes))
    except Exception:  # any broker trouble means "not answering"
        return set()
    finally:
        probe.close()
    return {name for reply in replies or [] for name in reply}


def beat_lock_key() -> str:
    """RedBeat's lock key as the Celery app configures it (RedBeatConfig's rule, without its warnings)."""
    from services.worker.celery_app import app

    prefix = str(app.conf.get("redbeat_key_prefix") or "redbeat:")
    key = str(app.conf.get("redbeat_lock_key") or prefix + ":lock")
    return key if key.startswith(prefix) else prefix + key


def beat_running(redis_url: str) -> bool:
    """A beat holds the RedBeat lock (it renews it every tick; a hung beat lets it expire)."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.exists(beat_lock_key()))
    except redis.RedisError:
        return False
    finally:
        client.close()


def health(kind: str, port: int = 8080, node: str | None = None) -> int:
    """0 when this container's process is healthy, 1 otherwise (Docker reserves other codes)."""
    if kind == "web":
        return 0 if web_serving(f"http://127.0.0.1:{port}/healthz") else 1
    if kind not in ("worker", "beat"):
        raise UsageError(f"unknown process kind {kind!r}")
    from celery.utils.nodenames import host_format

    try:
        redis_url = load_settings().redis_url
    except GarminSyncError:
        return 1
    if redis_url is None:
        return 1
    try:
        check_redis(redis_url)
    except BrokerUnavailable:
        return 1
    if kind == "worker":
        name = host_format(node or "worker@%h")
        return 0 if name in workers_answering(redis_url, [name], timeout=5.0) else 1
    return 0 if beat_running(redis_url) else 1

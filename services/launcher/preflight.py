"""What must hold before a process starts: settings, Redis, a writable data dir, the schema."""

from __future__ import annotations

import importlib.util
import os

import redis

from shared.config import Settings, load_settings
from shared.db import ensure_schema
from shared.errors import BrokerUnavailable, ConfigError, StorageError
from shared.redact import mask_url
from shared.storage import restrict_umask

from .argv import BEAT_SCHEDULER

REDIS_TIMEOUT_S = 3.0
EMBEDDED_MESSAGE = "workers need REDIS_URL; without it the CLI runs jobs in-process"


def check_redis(url: str, timeout: float = REDIS_TIMEOUT_S) -> None:
    """PING Redis once; raise BrokerUnavailable with one line if it does not answer in time."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"cannot reach Redis at {mask_url(url)}: {exc}") from None
    finally:
        client.close()


def preflight(schema: bool = True) -> Settings:
    """Settings, Redis and the schema checked before any process starts.

    Raises GarminSyncError subclasses, so callers turn them into one line and an
    exit code; upgrading the schema here keeps several processes that start at
    once from racing to migrate the same database.
    """
    settings = load_settings()
    restrict_umask(settings.umask)  # Celery, exec'd next, and its pool inherit it
    if settings.redis_url is None:
        raise ConfigError(EMBEDDED_MESSAGE)
    check_redis(settings.redis_url)
    check_data_dir(settings)
    if schema:
        ensure_schema(settings.database_url)
    return settings


def check_data_dir(settings: Settings) -> None:
    """Workers write the files there: a read-only mount should stop them at start, not per task."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the data directory {settings.data_dir}: {exc.strerror}") from None
    if not os.access(settings.data_dir, os.W_OK | os.X_OK):
        raise StorageError(f"the data directory {settings.data_dir} is not writable by this user")


def check_beat_scheduler() -> None:
    module = BEAT_SCHEDULER.split(":", 1)[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        raise ConfigError(f"the beat scheduler module {module} is missing from this installation")

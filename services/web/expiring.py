"""Small expiring facts every gunicorn worker must agree on: active logins, failed passwords.

In Redis when one is configured (the stack runs two web workers, and both must
see the same logins and the same count of wrong passwords), else in this
process (embedded mode runs one worker; a restart logs browsers out). Redis
errors surface as `KeysUnavailable`, so each caller decides how to ride them out.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

PREFIX = "garminsync:web:"


class KeysUnavailable(Exception):
    """Redis did not answer."""


class ExpiringKeys(Protocol):
    def add(self, key: str, ttl_s: float) -> None: ...

    def present(self, key: str) -> bool: ...

    def remove(self, key: str) -> None: ...

    def count(self, key: str, ttl_s: float) -> int:
        """Add one to a counter that lives `ttl_s` from its first count; the new value."""
        ...

    def peek(self, key: str) -> tuple[int, float]:
        """(counter value, seconds it has left); (0, 0.0) when there is none."""
        ...


class LocalKeys:
    """The in-process store (embedded mode, and tests)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> tuple[int, float] | None:
        item = self._items.get(key)
        if item is not None and item[1] <= time.monotonic():
            del self._items[key]
            return None
        return item

    def add(self, key: str, ttl_s: float) -> None:
        with self._lock:
            if len(self._items) > 100_000:  # bounded: drop what expired
                for name in list(self._items):
                    self._live(name)
            self._items[key] = (1, time.monotonic() + ttl_s)

    def present(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    def remove(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def count(self, key: str, ttl_s: float) -> int:
        with self._lock:
            item = self._live(key)
            value, expires = item if item else (0, time.monotonic() + ttl_s)
            self._items[key] = (value + 1, expires)
            return value + 1

    def peek(self, key: str) -> tuple[int, float]:
        with self._lock:
            item = self._live(key)
            return (item[0], item[1] - time.monotonic()) if item else (0, 0.0)


class RedisKeys:
    """The shared store, with short timeouts: a page never hangs on Redis."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._redis, method)(*args, **kwargs)
        except self._errors as exc:
            raise KeysUnavailable(str(exc)) from None

    def add(self, key: str, ttl_s: float) -> None:
        self._call("set", PREFIX + key, 1, px=max(1, int(ttl_s * 1000)))

    def present(self, key: str) -> bool:
        return bool(self._call("exists", PREFIX + key))

    def remove(self, key: str) -> None:
        self._call("delete", PREFIX + key)

    def count(self, key: str, ttl_s: float) -> int:
        self._call("set", PREFIX + key, 0, px=max(1, int(ttl_s * 1000)), nx=True)
        return int(self._call("incr", PREFIX + key))

    def peek(self, key: str) -> tuple[int, float]:
        value = self._call("get", PREFIX + key)
        left_ms = int(self._call("pttl", PREFIX + key))
        return (int(value), left_ms / 1000) if value is not None and left_ms > 0 else (0, 0.0)


def expiring_keys(redis_url: str | None) -> ExpiringKeys:
    return RedisKeys(redis_url) if redis_url else LocalKeys()

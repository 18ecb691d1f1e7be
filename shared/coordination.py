"""Cross-worker coordination: rate windows, cool-downs, strikes and locks.

Two backends with one contract: `LocalCoordinator` for the embedded mode (one
process, threads) and `RedisCoordinator` when workers share Redis. The rate
window is a sliding log evaluated atomically (a Lua script on Redis, using the
server's clock so workers on several machines agree).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from shared.errors import BrokerUnavailable

PREFIX = "garminsync"


class Coordinator(Protocol):
    def try_acquire(self, key: str, limit: int, window_ms: int) -> int:
        """Take one slot: 0 when taken, else milliseconds until one frees up."""
        ...

    def cooldown_ms(self, key: str) -> int: ...

    def set_cooldown(self, key: str, ms: int) -> None: ...

    def add_strike(self, key: str, ttl_s: int) -> int: ...

    def clear_strikes(self, key: str) -> None: ...

    def lock(self, name: str, timeout_s: float, wait_s: float) -> AbstractContextManager[bool]:
        """Hold `name` for at most `timeout_s`; yields False if not had within `wait_s`."""
        ...


class LocalCoordinator:
    """In-process state for the embedded mode."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._cooldowns: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, threading.Lock] = {}

    def try_acquire(self, key: str, limit: int, window_ms: int) -> int:
        now = time.monotonic()
        window = window_ms / 1000
        with self._mutex:
            wait = self._cooldowns.get(key, 0.0) - now
            if wait > 0:
                return max(1, int(wait * 1000))
            log = self._logs.setdefault(key, deque())
            while log and log[0] <= now - window:
                log.popleft()
            if len(log) < limit:
                log.append(now)
                return 0
            return max(1, int((log[0] + window - now) * 1000))

    def cooldown_ms(self, key: str) -> int:
        with self._mutex:
            return max(0, int((self._cooldowns.get(key, 0.0) - time.monotonic()) * 1000))

    def set_cooldown(self, key: str, ms: int) -> None:
        with self._mutex:
            until = time.monotonic() + ms / 1000
            self._cooldowns[key] = max(until, self._cooldowns.get(key, 0.0))

    def add_strike(self, key: str, ttl_s: int) -> int:
        with self._mutex:
            count, expires = self._strikes.get(key, (0, 0.0))
            now = time.monotonic()
            count = count + 1 if expires > now else 1
            self._strikes[key] = (count, now + ttl_s)
            return count

    def clear_strikes(self, key: str) -> None:
        with self._mutex:
            self._strikes.pop(key, None)

    @contextmanager
    def lock(self, name: str, timeout_s: float, wait_s: float) -> Iterator[bool]:
        with self._mutex:
            lock = self._locks.setdefault(name, threading.Lock())
        got = lock.acquire(timeout=wait_s) if wait_s > 0 else lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                lock.release()


_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cd = redis.call('PTTL', KEYS[2])
if cd > 0 then return cd end
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisCoordinator:
    """Shared state in Redis: every worker on every machine draws from one budget."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(
            url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
        )
        self._acquire = self._redis.register_script(_ACQUIRE_LUA)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._errors as exc:
            raise BrokerUnavailable(f"Redis is unreachable: {exc}") from None

    def try_acquire(self, key: str, limit: int, window_ms: int) -> int:
        keys = [f"{PREFIX}:rate:{key}", f"{PREFIX}:cooldown:{key}"]
        args = [window_ms, limit, uuid.uuid4().hex]
        return int(self._guard(self._acquire, keys, args))

    def cooldown_ms(self, key: str) -> int:
        return max(0, int(self._guard(self._redis.pttl, f"{PREFIX}:cooldown:{key}")))

    def set_cooldown(self, key: str, ms: int) -> None:
        # Keep a longer cool-down another worker already set.
        if ms > self.cooldown_ms(key):
            self._guard(lambda: self._redis.set(f"{PREFIX}:cooldown:{key}", "1", px=max(1, ms)))

    def add_strike(self, key: str, ttl_s: int) -> int:
        name = f"{PREFIX}:strikes:{key}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, ttl_s)
        return int(self._guard(pipe.execute)[0])

    def clear_strikes(self, key: str) -> None:
        self._guard(self._redis.delete, f"{PREFIX}:strikes:{key}")

    @contextmanager
    def lock(self, name: str, timeout_s: float, wait_s: float) -> Iterator[bool]:
        lock = self._redis.lock(
            f"{PREFIX}:lock:{name}",
            timeout=timeout_s,
            blocking=wait_s > 0,
            blocking_timeout=wait_s if wait_s > 0 else None,
        )
        got = bool(self._guard(lock.acquire))
        try:
            yield got
        finally:
            if got:
                # An expired lock raises on release; its timeout bounded it anyway.
                with contextlib.suppress(*self._errors):
                    lock.release()

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except self._errors:
            return False

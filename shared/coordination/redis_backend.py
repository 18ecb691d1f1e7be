"""Coordination in Redis: every worker on every machine draws from the same budgets.

The rate scripts read Redis's own clock (`TIME`), so workers on machines whose
clocks disagree still share one window.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.coordination.windows import PREFIX, Window
from shared.errors import BrokerUnavailable

# KEYS[1] epoch, KEYS[2] cool-down, KEYS[3..] rate logs; ARGV[1] take (1/0), ARGV[2] member,
# then limit, window per log. -1: the epoch is gone (Redis lost its data): recover first.
_WINDOWS_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cd = redis.call('PTTL', KEYS[2])
if cd > 0 then return cd end
local wait = 0
for i = 3, #KEYS do
  local limit = tonumber(ARGV[2 * i - 3])
  local window = tonumber(ARGV[2 * i - 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local live = redis.call('ZCARD', KEYS[i])
  if live >= limit then
    local nth = redis.call('ZRANGE', KEYS[i], live - limit, live - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(nth[2]) + window - now)
  end
end
if wait > 0 then return math.max(1, wait) end
if ARGV[1] == '1' then
  for i = 3, #KEYS do
    redis.call('ZADD', KEYS[i], now, ARGV[2])
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i - 2]) + 1000)
  end
end
return 0
"""

# KEYS[1] epoch, KEYS[2] cool-down (may be a dummy), KEYS[3] rate log; ARGV limit, window,
# lookahead (ms). Nothing is free while the epoch is gone.
_FREE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lookahead = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[2]) > lookahead then return 0 end
local live = redis.call('ZCOUNT', KEYS[3], '(' .. (now + lookahead - tonumber(ARGV[2])), '+inf')
return math.max(0, tonumber(ARGV[1]) - live)
"""

# KEYS[1] rate log; ARGV limit, window (ms).
_FILL_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[1])
for i = 1, tonumber(ARGV[1]) do redis.call('ZADD', KEYS[1], now, 'lost-' .. i) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
return 0
"""

# KEYS[1] lease; ARGV owner, ttl (ms).
_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 1
"""


EPOCH_KEY = f"{PREFIX}:epoch"


def _rate_key(key: str) -> str:
    return f"{PREFIX}:rate:{key}"


def _cooldown_key(key: str) -> str:
    return f"{PREFIX}:cooldown:{key}"


class RedisCoordinator:
    """The Coordinator contract in Redis; every Redis failure becomes BrokerUnavailable."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(
            url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
        )
        self._windows = self._redis.register_script(_WINDOWS_LUA)
        self._free = self._redis.register_script(_FREE_LUA)
        self._lease = self._redis.register_script(_LEASE_LUA)
        self._fill = self._redis.register_script(_FILL_LUA)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)

    def _guard(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise BrokerUnavailable(f"Redis is unreachable: {exc}") from None

    def _run_windows(self, take: bool, cooldown_key: str, windows: list[Window]) -> int:
        keys = [EPOCH_KEY, _cooldown_key(cooldown_key), *(_rate_key(w.key) for w in windows)]
        args: list[Any] = ["1" if take else "0", uuid.uuid4().hex]
        for window in windows:
            args += [window.limit, window.window_ms]
        return int(self._guard(self._windows, keys, args))

    def try_acquire(self, cooldown_key: str, windows: list[Window]) -> int:
        return self._run_windows(True, cooldown_key, windows)

    def wait_ms(self, cooldown_key: str, windows: list[Window]) -> int:
        return self._run_windows(False, cooldown_key, windows)

    def free_slots(self, cooldown_key: str | None, window: Window, lookahead_ms: int) -> int:
        keys = [EPOCH_KEY, _cooldown_key(cooldown_key or "-"), _rate_key(window.key)]
        return int(self._guard(self._free, keys, [window.limit, window.window_ms, lookahead_ms]))

    def fill_window(self, window: Window) -> None:
        self._guard(self._fill, [_rate_key(window.key)], [window.limit, window.window_ms])

    def cooldown_ms(self, key: str) -> int:
        return max(0, int(self._guard(self._redis.pttl, _cooldown_key(key))))

    def set_cooldown(self, key: str, ms: int) -> None:
        # Keep a longer cool-down another worker already set.
        if ms > self.cooldown_ms(key):
            self._guard(self._redis.set, _cooldown_key(key), "1", px=max(1, ms))

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

    def hold_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        return bool(self._guard(self._lease, [f"{PREFIX}:lease:{name}"], [owner, ttl_ms]))

    def set_flag(self, name: str, ttl_ms: int) -> None:
        self._guard(self._redis.set, f"{PREFIX}:flag:{name}", "1", px=max(1, ttl_ms))

    def clear_flag(self, name: str) -> None:
        self._guard(self._redis.delete, f"{PREFIX}:flag:{name}")

    def has_flag(self, name: str) -> bool:
        return bool(self._guard(self._redis.exists, f"{PREFIX}:flag:{name}"))

    def has_epoch(self) -> bool:
        return bool(self._guard(self._redis.exists, EPOCH_KEY))

    def set_epoch(self) -> None:
        self._guard(self._redis.set, EPOCH_KEY, uuid.uuid4().hex)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except self._errors:
            return False

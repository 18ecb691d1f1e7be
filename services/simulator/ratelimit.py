"""Garmin's own (simulated) rate limit: "at most N requests in any W-second window".

One limiter guards each account and one the whole IP. A limit counts the
requests from the moment it is set. A rejected request counts towards the
windows too, as a client that keeps hammering stays blocked. The test of a
window is the same as in ``stats.max_requests_in_window`` (``now - t < W``),
so over the same requests the stats' ``max_in_window`` exceeds N exactly
when this limiter answered 429.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

RATE_LIMIT_KEYS = frozenset({"per_second", "per_minute", "windows", "retry_after", "body"})


def _opt_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _window(item: Any) -> tuple[int, float]:
    """One ``[N, W]`` pair: N a positive integer, W a positive number of seconds."""
    if not isinstance(item, list | tuple) or len(item) != 2:
        raise ValueError("rate_limit.windows must be a list of [N, W_seconds] pairs")
    count = _opt_int(item[0], "rate_limit.windows N")
    seconds = item[1]
    if count is None:
        raise ValueError("rate_limit.windows N must be a positive integer")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError("rate_limit.windows W must be a positive number of seconds")
    return count, float(seconds)


def parse_window(text: str) -> list[int | float]:
    """``"30/60"`` → ``[30, 60]`` (the CLI's form of one window)."""
    count, sep, seconds = text.partition("/")
    try:
        pair = [int(count), float(seconds) if sep else 0.0]
        _window(pair)
    except ValueError as err:
        raise ValueError(f"{text!r}: expected N/SECONDS, e.g. 30/60") from err
    return pair


class RateLimiter:
    """Sliding windows over the requests it is shown. Thread-safe.

    ``allow`` must be called in arrival order (the state's admission lock
    does that), so the times stay sorted.
    """

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self.per_second: int | None = None
        self.per_minute: int | None = None
        self.windows: tuple[tuple[int, float], ...] = ()
        self.retry_after: float | None = None
        self.body = "json"
        self._limits: tuple[tuple[int, float], ...] = ()
        self.configure(spec)

    def configure(self, spec: dict[str, Any] | None) -> None:
        """Replace the limit (None or {} turns it off); a bad spec changes nothing."""
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ValueError("rate_limit must be an object or null")
        unknown = set(spec) - RATE_LIMIT_KEYS
        if unknown:
            raise ValueError(f"unknown rate_limit keys: {sorted(unknown)}")
        per_second = _opt_int(spec.get("per_second"), "per_second")
        per_minute = _opt_int(spec.get("per_minute"), "per_minute")
        raw_windows = spec.get("windows") or []
        if not isinstance(raw_windows, list | tuple):
            raise ValueError("rate_limit.windows must be a list of [N, W_seconds] pairs")
        windows = tuple(_window(item) for item in raw_windows)
        retry = spec.get("retry_after")
        if retry is not None and (isinstance(retry, bool) or not isinstance(retry, int | float)):
            raise ValueError("rate_limit.retry_after must be a number of seconds")
        body = spec.get("body", "json")
        if body not in ("json", "html"):
            raise ValueError("rate_limit.body must be json or html")
        limits = list(windows)
        if per_second is not None:
            limits.append((per_second, 1.0))
        if per_minute is not None:
            limits.append((per_minute, 60.0))
        with self._lock:
            self.per_second, self.per_minute, self.windows = per_second, per_minute, windows
            self.retry_after = None if retry is None else float(retry)
            self.body = body
            self._limits = tuple(limits)
            self._times.clear()  # a new limit counts from the moment it is set

    def describe(self) -> dict[str, Any] | None:
        """The spec as configured, or None when there is no limit."""
        with self._lock:
            if not self._limits:
                return None
            return {
                "per_second": self.per_second,
                "per_minute": self.per_minute,
                "windows": [[n, w] for n, w in self.windows],
                "retry_after": self.retry_after,
                "body": self.body,
            }

    def allow(self, now: float) -> bool:
        """Count this request; False if it goes beyond a configured window."""
        with self._lock:
            if not self._limits:
                return True
            horizon = max(w for _, w in self._limits)
            times = self._times
            while times and now - times[0] >= horizon:
                times.popleft()
            times.append(now)
            return all(self._inside(now, w) <= n for n, w in self._limits)

    def _inside(self, now: float, window_s: float) -> int:
        """Requests (this one included) within ``window_s`` before ``now``."""
        count = 0
        for t in reversed(self._times):
            if now - t >= window_s:
                break
            count += 1
        return count

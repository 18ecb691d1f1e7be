"""A small time-to-live cache for aggregates that are costly at 100,000 rows.

Counts behind the pager, the monthly chart and the worker inspection change
slowly but cost tens of milliseconds (or a broker round trip) each; a few
seconds of staleness keeps every page fast. Per process, thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    def __init__(self, max_entries: int = 512, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._clock = clock

    def get_or_set[T](self, key: Hashable, ttl: float, compute: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > now:
                value: T = hit[1]
                return value
        value = compute()
        with self._lock:
            if len(self._data) >= self._max:
                self._evict(now)
            self._data[key] = (now + ttl, value)
        return value

    def _evict(self, now: float) -> None:
        expired = [key for key, (until, _) in self._data.items() if until <= now]
        for key in expired or list(self._data)[: self._max // 2]:
            del self._data[key]

    def clear(self) -> None:
        """After an action: the next read sees the change at once."""
        with self._lock:
            self._data.clear()

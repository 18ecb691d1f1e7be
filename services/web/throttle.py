"""A slow-down on password guessing: a few wrong passwords per address, then wait."""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0


class Throttle:
    """At most MAX_FAILURES wrong passwords per address per window."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        now = time.monotonic()
        with self._lock:
            log = self._failures.get(address)
            if not log:
                return 0.0
            while log and log[0] <= now - FAILURE_WINDOW_S:
                log.popleft()
            if len(log) < MAX_FAILURES:
                return 0.0
            return log[0] + FAILURE_WINDOW_S - now

    def fail(self, address: str) -> None:
        with self._lock:
            self._failures.setdefault(address, deque()).append(time.monotonic())
            if len(self._failures) > 10_000:
                self._failures.clear()

    def succeed(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

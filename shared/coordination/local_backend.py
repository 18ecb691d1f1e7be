"""In-process coordination for the embedded mode (one process, several threads)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from shared.coordination.windows import Window, free_in_log, wait_in_log


class LocalCoordinator:
    """The Coordinator contract on monotonic time and a mutex."""

    def __init__(self, epoch: bool = True) -> None:
        """`epoch=False` starts as a store whose state was lost (for tests of the recovery)."""
        self._mutex = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._cooldowns: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._flags: dict[str, float] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._epoch = epoch

    def _wait(self, cooldown_key: str, windows: list[Window], now: float) -> float:
        wait = self._cooldowns.get(cooldown_key, 0.0) - now
        if wait > 0:
            return wait
        return max(
            (
                wait_in_log(self._logs.setdefault(w.key, deque()), w.limit, w.window_ms / 1000, now)
                for w in windows
            ),
            default=0.0,
        )

    def try_acquire(self, cooldown_key: str, windows: list[Window]) -> int:
        now = time.monotonic()
        with self._mutex:
            wait = self._wait(cooldown_key, windows, now)
            if wait > 0:
                return max(1, int(wait * 1000))
            for window in windows:
                self._logs[window.key].append(now)
            return 0

    def wait_ms(self, cooldown_key: str, windows: list[Window]) -> int:
        with self._mutex:
            wait = self._wait(cooldown_key, windows, time.monotonic())
        return max(1, int(wait * 1000)) if wait > 0 else 0

    def free_slots(self, cooldown_key: str | None, window: Window, lookahead_ms: int) -> int:
        now = time.monotonic()
        lookahead = lookahead_ms / 1000
        with self._mutex:
            if cooldown_key and self._cooldowns.get(cooldown_key, 0.0) - now > lookahead:
                return 0
            log = self._logs.setdefault(window.key, deque())
            return free_in_log(log, window.limit, window.window_ms / 1000, now, lookahead)

    def fill_window(self, window: Window) -> None:
        now = time.monotonic()
        with self._mutex:
            self._logs[window.key] = deque([now] * window.limit)

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

    def hold_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        now = time.monotonic()
        with self._mutex:
            holder, expires = self._leases.get(name, (owner, 0.0))
            if holder != owner and expires > now:
                return False
            self._leases[name] = (owner, now + ttl_ms / 1000)
            return True

    def set_flag(self, name: str, ttl_ms: int) -> None:
        with self._mutex:
            self._flags[name] = time.monotonic() + ttl_ms / 1000

    def clear_flag(self, name: str) -> None:
        with self._mutex:
            self._flags.pop(name, None)

    def has_flag(self, name: str) -> bool:
        with self._mutex:
            return self._flags.get(name, 0.0) > time.monotonic()

    def has_epoch(self) -> bool:
        with self._mutex:
            return self._epoch

    def set_epoch(self) -> None:
        with self._mutex:
            self._epoch = True

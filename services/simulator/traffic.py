"""What the simulator sees of one client IP: latency, the IP-wide limit, admission, counters.

Garmin limits per account and per IP. The account limits live with the
accounts; this is the IP side, and the one place where a request's arrival
time is taken, so limiters and counters agree on it.
"""

from __future__ import annotations

import math
import random
import threading
import time
from typing import Any

from .account import AccountWorld
from .ratelimit import RateLimiter
from .stats import Stats


class Traffic:
    """Latency, the IP-wide limiter and the counters over all accounts. Thread-safe."""

    def __init__(
        self, seed: int, latency_ms: int, latency_jitter_ms: int, rate_limit: dict[str, Any] | None
    ) -> None:
        self._lock = threading.Lock()
        self._admission = threading.Lock()
        self._last_arrival = 0.0
        self._rng = random.Random(f"latency:{seed}")
        self.latency_ms = latency_ms
        self.latency_jitter_ms = latency_jitter_ms
        self.rate_limiter = RateLimiter(rate_limit)
        self.stats = Stats()

    def latency_s(self) -> float:
        """This request's simulated latency (base plus seeded jitter)."""
        with self._lock:
            base, jitter = self.latency_ms, self.latency_jitter_ms
            extra = self._rng.uniform(0, jitter) if jitter else 0.0
        return (base + extra) / 1000.0

    def admit(self, world: AccountWorld | None) -> tuple[float, RateLimiter | None]:
        """A request's arrival time, and the limiter that refuses it (None: it may pass).

        Both the IP-wide limiter and the account's count it, even when the
        other refuses. One lock takes the time and asks both, so limiters and
        counters see the same times in the same order.
        """
        with self._admission:
            # Strictly increasing, so arrival order and time order are one.
            now = max(time.time(), math.nextafter(self._last_arrival, math.inf))
            self._last_arrival = now
            ip_ok = self.rate_limiter.allow(now)
            account_ok = world.rate_limiter.allow(now) if world is not None else True
        if not account_ok and world is not None:
            return now, world.rate_limiter
        return now, None if ip_ok else self.rate_limiter

    def record(self, t: float, kind: str, path: str, status: int, world: AccountWorld | None) -> None:
        """Count an answered request over all accounts and, if known, for its account."""
        email = world.email if world is not None else None
        self.stats.record(t, kind, path, status, email)
        if world is not None:
            world.stats_counter.record(t, kind, path, status, email)

    def event(self, name: str, world: AccountWorld | None = None) -> None:
        """Count an outcome (e.g. a refresh) over all accounts and for its account."""
        self.stats.event(name)
        if world is not None:
            world.stats_counter.event(name)

"""One request budget per Garmin account, honoured by every request we send.

The window is a sliding log (see `coordination`), padded by a margin
(GARMINSYNC_RATE_MARGIN_MS, 100 ms) so the varying delay between taking a slot
and the request reaching Garmin cannot squeeze one request too many into
Garmin's own window. A 429
puts the account in a cool-down: `Retry-After` when Garmin sends one, else a
back-off that doubles with each consecutive 429.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from shared.coordination import Coordinator
from shared.errors import RateLimited
from shared.ratelimit_spec import RateSpec

log = logging.getLogger(__name__)

DEFAULT_MARGIN_MS = 100


class RateLimiter:
    def __init__(
        self,
        coordinator: Coordinator,
        rate: RateSpec,
        *,
        margin_ms: int = DEFAULT_MARGIN_MS,
        cooldown_base_s: float = 60.0,
        cooldown_max_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.coordinator = coordinator
        self.rate = rate
        self.window_ms = rate.period * 1000 + margin_ms
        self.cooldown_base_s = cooldown_base_s
        self.cooldown_max_s = cooldown_max_s
        self._sleep = sleep

    def acquire(self, key: str, max_wait: float | None = None) -> None:
        """Block until a slot is ours; raise RateLimited if that would take over `max_wait`."""
        waited = 0.0
        while True:
            wait_ms = self.coordinator.try_acquire(key, self.rate.amount, self.window_ms)
            if wait_ms == 0:
                return
            wait = wait_ms / 1000
            if max_wait is not None and waited + wait > max_wait:
                raise RateLimited(
                    f"request budget for {key} exhausted; next slot in {wait:.1f}s",
                    retry_after=wait,
                )
            # Small jitter so waiting workers don't all wake at the same instant.
            step = min(wait, 1.0) + random.uniform(0, 0.01)
            self._sleep(step)
            waited += step

    def note_429(self, key: str, retry_after: float | None) -> float:
        """Start (or extend) the account's cool-down; return its length in seconds."""
        if retry_after is not None and retry_after > 0:
            seconds = min(retry_after, self.cooldown_max_s)
        else:
            strikes = self.coordinator.add_strike(key, ttl_s=int(self.cooldown_max_s * 4))
            seconds = min(self.cooldown_base_s * 2 ** (strikes - 1), self.cooldown_max_s)
        self.coordinator.set_cooldown(key, int(seconds * 1000))
        log.warning("Garmin said 429 for %s: cooling down for %.0fs", key, seconds)
        return seconds

    def note_success(self, key: str) -> None:
        self.coordinator.clear_strikes(key)

    def cooldown_remaining(self, key: str) -> float:
        return self.coordinator.cooldown_ms(key) / 1000

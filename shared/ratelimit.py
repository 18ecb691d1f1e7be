"""One request budget per Garmin account (plus an optional global one), honoured by every request.

Each window is a sliding log (see `coordination`), padded by a margin
(GARMINSYNC_RATE_MARGIN_MS, 100 ms) so the varying delay between taking a slot
and the request reaching Garmin cannot squeeze one request too many into
Garmin's own window. A request takes a slot in its account's window and, with
GARMINSYNC_GLOBAL_RATE_LIMIT, in the global one, atomically. A 429 puts the
account in a cool-down: `Retry-After` when Garmin sends one, else a back-off
that doubles with each consecutive 429.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from shared.config import default
from shared.coordination import LOST, Coordinator, Window
from shared.errors import RateLimited
from shared.ratelimit_spec import RateSpec

log = logging.getLogger(__name__)

DEFAULT_MARGIN_MS: int = default("rate_margin_ms")
GLOBAL_KEY = "global"


def account_key(account_id: int) -> str:
    """The key of an account's budget and cool-down, shared by every worker."""
    return f"account-{account_id}"


class RateLimiter:
    def __init__(
        self,
        coordinator: Coordinator,
        rate: RateSpec,
        *,
        global_rate: RateSpec | None = None,
        margin_ms: int = DEFAULT_MARGIN_MS,
        cooldown_base_s: float = default("cooldown_base_s"),
        cooldown_max_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.coordinator = coordinator
        self.rate = rate
        self.global_rate = global_rate
        self.window_ms = rate.period * 1000 + margin_ms
        self.margin_ms = margin_ms
        self.cooldown_base_s = cooldown_base_s
        self.cooldown_max_s = cooldown_max_s
        self._sleep = sleep
        # Set by the runtime: puts the shared state back after Redis lost it (shared.recovery).
        self.recover: Callable[[], object] | None = None
        # Set by the runtime: told of each cool-down (key, seconds), for the notifications.
        self.on_cooldown: Callable[[str, float], None] | None = None

    def account_window(self, key: str) -> Window:
        return Window(key, self.rate.amount, self.window_ms)

    def global_window(self) -> Window | None:
        if self.global_rate is None:
            return None
        return Window(GLOBAL_KEY, self.global_rate.amount, self.global_rate.period * 1000 + self.margin_ms)

    def windows(self, key: str) -> list[Window]:
        """Every window a request of account `key` must fit."""
        shared = self.global_window()
        return [self.account_window(key)] + ([shared] if shared else [])

    def acquire(self, key: str, max_wait: float | None = None) -> None:
        """Block until a slot is ours; raise RateLimited if that would take over `max_wait`."""
        self._wait(key, max_wait, take=True)

    def wait_for_slot(self, key: str, max_wait: float | None) -> None:
        """Block until a slot is free, without taking it; RateLimited if that takes over `max_wait`.

        A task calls this before handing a request to garminconnect, so a budget
        that is spent for longer than the task may wait is answered here, cleanly,
        instead of as an error inside the library.
        """
        self._wait(key, max_wait, take=False)

    def _wait(self, key: str, max_wait: float | None, take: bool) -> None:
        windows = self.windows(key)
        check = self.coordinator.try_acquire if take else self.coordinator.wait_ms
        waited = 0.0
        while True:
            wait_ms = check(key, windows)
            if wait_ms == 0:
                return
            if wait_ms == LOST:
                if self.recover is not None:
                    self.recover()
                    continue
                wait_ms = 500  # someone else recovers (a worker's dispatcher)
            wait = wait_ms / 1000
            if max_wait is not None and waited + wait > max_wait:
                raise RateLimited(
                    f"request budget for {key} spent; next slot in {wait:.1f}s",
                    retry_after=wait,
                )
            # Small jitter so waiting workers don't all wake at the same instant.
            step = min(wait, 1.0) + random.uniform(0, 0.01)
            self._sleep(step)
            waited += step

    def free_slots(self, key: str, lookahead_s: float) -> int:
        """Slots of the account's own budget free now or within `lookahead_s` (0 in a cool-down)."""
        return self.coordinator.free_slots(key, self.account_window(key), int(lookahead_s * 1000))

    def global_free_slots(self, lookahead_s: float) -> int | None:
        """The same for the global budget; None when there is none."""
        window = self.global_window()
        if window is None:
            return None
        return self.coordinator.free_slots(None, window, int(lookahead_s * 1000))

    def assume_spent(self, keys: list[str]) -> None:
        """The logs were lost (Redis emptied): count these budgets, and the global one, as spent."""
        for key in keys:
            self.coordinator.fill_window(self.account_window(key))
        shared = self.global_window()
        if shared is not None:
            self.coordinator.fill_window(shared)

    def note_429(self, key: str, retry_after: float | None) -> float:
        """Start (or extend) the account's cool-down; return its length in seconds."""
        if retry_after is not None and retry_after > 0:
            seconds = min(retry_after, self.cooldown_max_s)
        else:
            strikes = self.coordinator.add_strike(key, ttl_s=int(self.cooldown_max_s * 4))
            seconds = min(self.cooldown_base_s * 2 ** (strikes - 1), self.cooldown_max_s)
        self.coordinator.set_cooldown(key, int(seconds * 1000))
        log.warning("Garmin said 429 for %s: cooling down for %.0fs", key, seconds)
        if self.on_cooldown is not None:
            self.on_cooldown(key, seconds)
        return seconds

    def note_success(self, key: str) -> None:
        self.coordinator.clear_strikes(key)

    def cooldown_remaining(self, key: str) -> float:
        return self.coordinator.cooldown_ms(key) / 1000

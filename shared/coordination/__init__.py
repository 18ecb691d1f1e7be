"""Cross-worker coordination: rate windows, cool-downs, strikes, locks and leases.

Two backends with one contract: `LocalCoordinator` for the embedded mode (one
process, threads) and `RedisCoordinator` when workers share Redis. A request
may have to fit several rate windows at once (its account's budget and the
optional global one); each check is atomic over all of them (a Lua script on
Redis, using the server's clock so workers on several machines agree).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from shared.coordination.local_backend import LocalCoordinator
from shared.coordination.redis_backend import RedisCoordinator
from shared.coordination.windows import PREFIX, Window

LOST = -1  # what `try_acquire` and `wait_ms` answer while the shared state is lost

__all__ = ["LOST", "PREFIX", "Coordinator", "LocalCoordinator", "RedisCoordinator", "Window"]


class Coordinator(Protocol):
    def try_acquire(self, cooldown_key: str, windows: list[Window]) -> int:
        """Take one slot in every window: 0 when taken, else milliseconds until all have one.

        LOST (-1): the shared state was lost (Redis emptied); nothing may be taken until
        someone recovers it (`shared.recovery`) and sets the epoch again.
        """
        ...

    def wait_ms(self, cooldown_key: str, windows: list[Window]) -> int:
        """Like `try_acquire` without taking anything: 0 when a slot is free now (or LOST)."""
        ...

    def free_slots(self, cooldown_key: str | None, window: Window, lookahead_ms: int) -> int:
        """Slots of `window` free now or freeing within `lookahead_ms`; 0 in a longer cool-down."""
        ...

    def fill_window(self, window: Window) -> None:
        """Count `window` as spent right now (its log was lost, so what was spent is unknown)."""
        ...

    def cooldown_ms(self, key: str) -> int: ...

    def set_cooldown(self, key: str, ms: int) -> None: ...

    def add_strike(self, key: str, ttl_s: int) -> int: ...

    def clear_strikes(self, key: str) -> None: ...

    def lock(self, name: str, timeout_s: float, wait_s: float) -> AbstractContextManager[bool]:
        """Hold `name` for at most `timeout_s`; yields False if not had within `wait_s`."""
        ...

    def hold_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take or renew the lease `name` for `owner`; False while someone else holds it."""
        ...

    def set_flag(self, name: str, ttl_ms: int) -> None: ...

    def clear_flag(self, name: str) -> None: ...

    def has_flag(self, name: str) -> bool: ...

    def has_epoch(self) -> bool:
        """The epoch marker exists: the budgets' logs are whole (not a new or emptied store)."""
        ...

    def set_epoch(self) -> None:
        """Mark the budgets' logs as whole again, once recovery has counted them."""
        ...

"""Everything a task or command needs, built once per process from the settings."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import partial

from shared.accounts import AccountTokens
from shared.config import Settings, load_settings
from shared.coordination import Coordinator, LocalCoordinator, RedisCoordinator
from shared.db import dispose_engines
from shared.garmin import GarminGateway
from shared.models import Account
from shared.notify.hooks import cooldown_started
from shared.ratelimit import RateLimiter, account_key
from shared.recovery import recover_lost_state
from shared.storage import Storage
from shared.tokens import TokenCipher, load_or_create_secret


@dataclass
class Runtime:
    settings: Settings
    coordinator: Coordinator
    limiter: RateLimiter
    storage: Storage
    cipher: TokenCipher
    _gateways: dict[tuple[int, float | None], GarminGateway] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        coordinator: Coordinator = (
            RedisCoordinator(settings.redis_url) if settings.redis_url else LocalCoordinator()
        )
        limiter = RateLimiter(
            coordinator,
            settings.rate,
            global_rate=settings.global_rate,
            margin_ms=settings.rate_margin_ms,
            cooldown_base_s=settings.cooldown_base_s,
        )
        limiter.recover = partial(recover_lost_state, settings.database_url, limiter, coordinator)
        cipher = TokenCipher(load_or_create_secret(settings.data_dir, settings.secret_key))
        limiter.on_cooldown = partial(cooldown_started, settings, coordinator, cipher)
        return cls(
            settings=settings,
            coordinator=coordinator,
            limiter=limiter,
            storage=Storage(settings.data_dir, settings.layout),
            cipher=cipher,
        )

    def tokens(self, account_id: int) -> AccountTokens:
        return AccountTokens(self.settings, self.cipher, account_id)

    def gateway(self, account: Account, max_wait: float | None = None) -> GarminGateway:
        """One gateway per account (and wait policy) per process, so connections are reused."""
        key = (account.id, max_wait)
        gateway = self._gateways.get(key)
        if gateway is None:
            gateway = self._gateways[key] = self._new_gateway(account, max_wait)
        return gateway

    def _new_gateway(self, account: Account, max_wait: float | None) -> GarminGateway:
        return GarminGateway(
            account_key=account_key(account.id),
            limiter=self.limiter,
            coordinator=self.coordinator,
            tokens=self.tokens(account.id),
            api_url=self.settings.garmin_api_url,
            max_wait=max_wait,
        )


_current: Runtime | None = None
_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """A fork may happen while another thread (the dispatcher) holds the lock."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def get_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = Runtime.build(load_settings())
        return _current


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (CLI after parsing options, tests); None forgets it."""
    global _current
    with _lock:
        _current = runtime


def reset_after_fork() -> None:
    """A forked worker must not share the parent's sockets or pooled connections."""
    set_runtime(None)
    dispose_engines()

"""What every request of one dashboard app shares, built once in `create_app`."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from flask import current_app

from shared.config import Settings
from shared.runtime import Runtime
from shared.usecases.delivery import Delivery, ToWorkers

from .broker import Broker, BrokerHealth
from .cache import TTLCache
from .logins import Logins
from .pending import PendingLogins
from .runner import EmbeddedRunner
from .throttle import Throttle

EXTENSION = "garminsync"


@dataclass
class WebState:
    settings: Settings
    runtime: Runtime
    broker: Broker
    runner: EmbeddedRunner | None
    pending: PendingLogins
    password_hash: str | None
    flower_url: str | None
    logins: Logins
    throttle: Throttle
    cache: TTLCache = field(default_factory=TTLCache)
    local_gateways: frozenset[str] = frozenset()

    @property
    def embedded(self) -> bool:
        return self.settings.embedded

    @property
    def auth_required(self) -> bool:
        return self.password_hash is not None

    @property
    def delivery(self) -> Delivery:
        """Where actions send work: the background runner (embedded mode) or the workers."""
        if self.runner is not None:
            return self.runner
        return ToWorkers(self.runtime, self.broker)


def web_state() -> WebState:
    state: WebState = current_app.extensions[EXTENSION]
    return state


def session_secret(secret: str) -> str:
    """The Flask key, derived from the project's one secret (not the Fernet key itself)."""
    return hmac.new(secret.encode(), b"garminsync-web-session", hashlib.sha256).hexdigest()


BROKER_HEALTH_TTL_S = 5.0


def broker_health(state: WebState) -> BrokerHealth:
    """Workers and queues, inspected at most every few seconds (a ping waits up to 1 s)."""
    return state.cache.get_or_set("broker-health", BROKER_HEALTH_TTL_S, state.broker.health)

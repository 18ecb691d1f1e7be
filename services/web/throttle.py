"""A slow-down on password guessing: five wrong passwords per client and account, then wait.

The count lives where every gunicorn worker sees it (Redis when configured,
`expiring.py`), so five means five however many workers serve; it is kept
per client address and login account, so one client's guesses never lock
another out. While a client is locked even the right password waits: answering
it would turn the lock into an oracle. If Redis stops answering, the count
goes on in this process rather than lifting the limit or refusing everyone.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from .expiring import ExpiringKeys, KeysUnavailable, LocalKeys

MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
DASHBOARD = "dashboard"  # the dashboard's one login (GARMINSYNC_WEB_PASSWORD)

log = logging.getLogger(__name__)


class Throttle:
    """At most MAX_FAILURES wrong passwords per client and account per window."""

    def __init__(self, keys: ExpiringKeys | None = None) -> None:
        self._keys = keys or LocalKeys()
        self._fallback = LocalKeys()

    def wait_s(self, client: str, account: str = DASHBOARD) -> float:
        count, left = self._call("peek", _key(client, account))
        return float(left) if count >= MAX_FAILURES else 0.0

    def fail(self, client: str, account: str = DASHBOARD) -> None:
        self._call("count", _key(client, account), FAILURE_WINDOW_S)

    def succeed(self, client: str, account: str = DASHBOARD) -> None:
        self._call("remove", _key(client, account))

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._keys, method)(*args)
        except KeysUnavailable as exc:
            log.warning("login throttle: Redis unreachable (%s); counting in this process", exc)
            return getattr(self._fallback, method)(*args)


def _key(client: str, account: str) -> str:
    who = hashlib.sha256(f"{account}\0{client}".encode()).hexdigest()[:32]
    return f"login-failures:{who}"

"""Half-finished Garmin logins waiting for their MFA code.

garminconnect's MFA state holds Garmin's SSO session cookies, so it never
goes into the browser: the session cookie carries only a random id. The
state itself is encrypted with the token cipher and kept ten minutes, in
Redis when there is one (any gunicorn worker can finish the login), else in
this process's memory.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from typing import Any

from shared.errors import BrokerUnavailable
from shared.tokens import TokenCipher
from shared.usecases.login import PendingLogin

TTL_S = 600
_PREFIX = "garminsync:web:mfa:"
SESSION_KEY = "mfa_pending"  # the session holds only this random key, never the state


def _dumps(pending: PendingLogin) -> str:
    data = {"account_id": pending.account_id, "email": pending.email, "state": pending.state}
    return json.dumps({**data, "tries": pending.tries})


def _loads(text: str) -> PendingLogin:
    data = json.loads(text)
    return PendingLogin(int(data["account_id"]), str(data["email"]), dict(data["state"]), int(data["tries"]))


class PendingLogins:
    def __init__(self, cipher: TokenCipher, redis_url: str | None = None, ttl_s: int = TTL_S) -> None:
        self._cipher = cipher
        self._ttl = ttl_s
        self._memory: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=2)

    def put(self, pending: PendingLogin, key: str | None = None) -> str:
        key = key or secrets.token_urlsafe(24)
        blob = self._cipher.encrypt(_dumps(pending))
        if self._redis is not None:
            try:
                self._redis.set(_PREFIX + key, blob, ex=self._ttl)
            except Exception as exc:
                raise BrokerUnavailable(f"cannot keep the login's MFA step in Redis: {exc}") from None
            return key
        with self._lock:
            self._expire()
            self._memory[key] = (time.monotonic() + self._ttl, blob)
        return key

    def get(self, key: str | None) -> PendingLogin | None:
        if not key:
            return None
        blob: bytes | None
        if self._redis is not None:
            try:
                blob = self._redis.get(_PREFIX + key)
            except Exception as exc:
                raise BrokerUnavailable(f"cannot read the login's MFA step from Redis: {exc}") from None
        else:
            with self._lock:
                self._expire()
                entry = self._memory.get(key)
                blob = entry[1] if entry else None
        if blob is None:
            return None
        try:
            return _loads(self._cipher.decrypt(blob))
        except Exception:
            return None

    def drop(self, key: str | None) -> None:
        if not key:
            return
        if self._redis is not None:
            with contextlib.suppress(Exception):  # it expires by itself anyway
                self._redis.delete(_PREFIX + key)
            return
        with self._lock:
            self._memory.pop(key, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [key for key, (until, _) in self._memory.items() if until <= now]:
            del self._memory[key]

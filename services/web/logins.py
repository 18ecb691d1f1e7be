"""Which signed session cookies are still logged in: the server's own list of logins.

A session cookie is signed, not stored, so clearing it in one browser does
nothing to a copy of it elsewhere. Each login therefore gets a random id,
kept server-side (`expiring.py`: Redis, or this process) for the session's
lifetime; logging out deletes it, and a cookie whose id is gone is logged out
wherever it is. A password change ends every login through the password
fingerprint the cookie also carries (`auth.py`). If Redis stops answering,
signed cookies of the current password are accepted until it is back: pages
stay readable through a Redis outage, as the rest of the dashboard does.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from .expiring import ExpiringKeys, KeysUnavailable

log = logging.getLogger(__name__)


class Logins:
    def __init__(self, keys: ExpiringKeys, lifetime_s: float) -> None:
        self._keys = keys
        self._lifetime_s = lifetime_s

    def start(self) -> str:
        """A new login's id, for the session cookie."""
        login_id = secrets.token_urlsafe(24)
        try:
            self._keys.add(_key(login_id), self._lifetime_s)
        except KeysUnavailable as exc:
            log.warning("cannot record the login in Redis (%s); it works until Redis is back", exc)
        return login_id

    def active(self, login_id: object) -> bool:
        if not isinstance(login_id, str) or not login_id:
            return False
        try:
            return self._keys.present(_key(login_id))
        except KeysUnavailable as exc:
            log.warning("cannot check logins in Redis (%s); accepting the signed session", exc)
            return True

    def end(self, login_id: object) -> None:
        if not isinstance(login_id, str) or not login_id:
            return
        try:
            self._keys.remove(_key(login_id))
        except KeysUnavailable as exc:
            log.warning("cannot end the login in Redis (%s); the browser's cookie is cleared", exc)


def _key(login_id: str) -> str:
    """Stored hashed: what Redis holds cannot be replayed as a session id."""
    return "login:" + hashlib.sha256(login_id.encode()).hexdigest()

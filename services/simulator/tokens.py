"""Service tickets and DI OAuth2 tokens, issued and rotated the way Garmin does.

Access tokens are HS256 JWTs signed with a per-instance secret, so a token
from another simulator (or a forged one) is simply unknown. Refresh tokens
are opaque and single-use: a refresh returns a new pair and revokes the
token it consumed, so a client that loses the new pair must log in again.
A refresh token lives `refresh_ttl_s` (90 days) from the login that began
its chain: a rotation keeps that end (the answer's `refresh_token_expires_in`
counts down), and after it only a new interactive login helps.
Every ticket and token belongs to one account, named by its Garmin GUID (the
JWT's ``garmin_guid`` claim), and a refresh keeps that account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

SERVICE_TICKET_GRANT = "https://connectapi.garmin.com/di-oauth2-service/oauth/grant/service_ticket"
DEFAULT_CLIENT_ID = "GARMIN_CONNECT_MOBILE_ANDROID_DI_2025Q2"
TICKET_TTL_S = 300
REFRESH_TTL_S = 90 * 24 * 3600
SCOPES = ["CONNECT_READ", "CONNECT_WRITE", "DI_OAUTH_2_TOKEN_ADMIN"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class _Refresh:
    guid: str
    client_id: str
    expires: float
    revoked: bool = False


@dataclass
class _Ticket:
    guid: str
    service_url: str
    expires: float


class TokenAuthority:
    """Issues tickets and tokens; validates and revokes them. Thread-safe."""

    def __init__(self, ttl_s: int, refresh_ttl_s: int = REFRESH_TTL_S) -> None:
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.ttl_s = ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self._tickets: dict[str, _Ticket] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._issued_jti: dict[str, set[str]] = {}  # guid -> jti
        self._revoked_jti: set[str] = set()

    # -- service tickets ---------------------------------------------------- #

    def issue_ticket(self, service_url: str, guid: str) -> str:
        """A service ticket for the account ``guid`` has just logged in as."""
        ticket = f"ST-{secrets.randbelow(10**7):07d}-{secrets.token_urlsafe(15)}-cas"
        with self._lock:
            self._tickets[ticket] = _Ticket(guid, service_url, time.time() + TICKET_TTL_S)
        return ticket

    def ticket_owner(self, ticket: str) -> str | None:
        """The GUID a ticket was issued for, without consuming it (None if unknown)."""
        with self._lock:
            info = self._tickets.get(ticket)
            return info.guid if info is not None else None

    def consume_ticket(self, ticket: str, service_url: str | None) -> str | None:
        """The ticket's GUID, once per valid ticket (and only for its service), else None."""
        with self._lock:
            info = self._tickets.get(ticket)
            if info is None or info.expires < time.time():
                return None
            if service_url and service_url != info.service_url:
                return None
            del self._tickets[ticket]
            return info.guid

    # -- tokens ------------------------------------------------------------- #

    def _sign(self, payload: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        sig = hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(sig)}"

    def issue(
        self,
        guid: str,
        client_id: str = DEFAULT_CLIENT_ID,
        ttl_s: int | None = None,
        *,
        refresh_ttl_s: int | None = None,
        refresh_expires: float | None = None,
    ) -> dict[str, Any]:
        """A DI token response body for the account ``guid``: fresh access and refresh tokens.

        The refresh token ends `refresh_ttl_s` from now (a login), or at `refresh_expires`
        (a rotation keeps the end of the token it replaces).
        """
        ttl = self.ttl_s if ttl_s is None else ttl_s
        now = int(time.time())
        if refresh_expires is None:
            refresh_expires = time.time() + (self.refresh_ttl_s if refresh_ttl_s is None else refresh_ttl_s)
        jti = secrets.token_hex(16)
        access = self._sign(
            {
                "scope": SCOPES,
                "iss": "https://diauth.garmin.com",
                "client_type": "UNDEFINED",
                "exp": now + ttl,
                "iat": now,
                "garmin_guid": guid,
                "jti": jti,
                "client_id": client_id,
            }
        )
        refresh = "rt-" + secrets.token_urlsafe(32)
        with self._lock:
            self._issued_jti.setdefault(guid, set()).add(jti)
            self._refresh[refresh] = _Refresh(guid, client_id, refresh_expires)
        return {
            "scope": " ".join(SCOPES),
            "jti": jti,
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": ttl,
            "refresh_token_expires_in": max(0, int(refresh_expires - time.time())),
        }

    def refresh(self, refresh_token: str, client_id: str | None) -> dict[str, Any] | None:
        """Rotate: a new pair for the same account and client, None if refused."""
        with self._lock:
            info = self._refresh.get(refresh_token)
            if info is None or info.revoked or info.expires < time.time():
                return None
            if client_id and client_id != info.client_id:
                return None
            info.revoked = True
        return self.issue(info.guid, info.client_id, refresh_expires=info.expires)

    def refresh_owner(self, refresh_token: str) -> str | None:
        """The GUID a refresh token belongs to, live or not (None if never issued)."""
        with self._lock:
            info = self._refresh.get(refresh_token)
            return info.guid if info is not None else None

    def access_claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The claims of a valid, unexpired, unrevoked bearer token, else None."""
        claims = self.signed_claims(authorization)
        return claims if claims is not None and self.is_live(claims) else None

    def is_live(self, claims: dict[str, Any]) -> bool:
        """Whether signed claims are still good: not expired, not revoked."""
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            return False
        with self._lock:
            return claims.get("jti") not in self._revoked_jti

    def signed_claims(self, authorization: str | None) -> dict[str, Any] | None:
        """The claims of a bearer token this instance signed, even if expired or revoked.

        Enough to know whose request it is (for the per-account limit and
        counters) before deciding whether it may pass.
        """
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer ") :].strip()
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            claims: dict[str, Any] = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return None
        return claims if isinstance(claims, dict) else None

    def revoke_refresh_tokens(self, guid: str) -> int:
        """Every live refresh token of the account is refused from now on; how many."""
        with self._lock:
            live = [r for r in self._refresh.values() if r.guid == guid and not r.revoked]
            for r in live:
                r.revoked = True
            return len(live)

    def revoke_access_tokens(self, guid: str) -> None:
        """Every access token issued to the account so far becomes invalid."""
        with self._lock:
            self._revoked_jti |= self._issued_jti.get(guid, set())

"""The accounts of one simulator: created in id-range slots, found by email, GUID or password.

Tokens name their account by Garmin GUID, the SSO and the control API by
email; this keeps both maps, and gives each new account what must differ
from every other account's (its id range, seed, GUID).
"""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

from .account import AccountWorld, Catalogue


class UnknownAccount(KeyError):
    """An email no account of this simulator has (the control API answers 404)."""

    def __str__(self) -> str:
        return f"unknown account: {self.args[0]}"


class AccountExists(ValueError):
    """An account added with an email already taken (the control API answers 409)."""


class AccountRegistry:
    """Every account, the default (the first added) first. Thread-safe."""

    def __init__(self, base_seed: int, catalogue: Catalogue) -> None:
        self._lock = threading.Lock()
        self._base_seed = base_seed
        self._catalogue = catalogue
        self._by_email: dict[str, AccountWorld] = {}  # lower-case email -> account
        self._by_guid: dict[str, AccountWorld] = {}

    def add(self, email: str, password: str, *, seed: int | None, **options: Any) -> AccountWorld:
        """A new account in the next slot; ``options`` go to ``AccountWorld``.

        Without ``seed`` the k-th account (0 = default) uses base seed + k.
        """
        if not isinstance(email, str) or "@" not in email.strip():
            raise ValueError("email must be an email address")
        if not isinstance(password, str) or not password:
            raise ValueError("password must be a non-empty string")
        key = email.strip().lower()
        with self._lock:
            if key in self._by_email:
                raise AccountExists(f"account {email} exists")
            slot = len(self._by_email)
            acc_seed = self._base_seed + slot if seed is None else seed
            # The default account keeps the GUID and upload sequence it always had.
            suffix = "" if slot == 0 else f":{key}"
            world = AccountWorld(
                email.strip(),
                password,
                seed=acc_seed,
                guid=str(uuid.UUID(int=random.Random(f"guid:{acc_seed}{suffix}").getrandbits(128))),
                slot=slot,
                catalogue=self._catalogue,
                rng_key=f"state:{acc_seed}{suffix}",
                **options,
            )
            self._by_email[key] = world
            self._by_guid[world.guid] = world
        return world

    def get(self, account: str | None = None) -> AccountWorld:
        """The account by email (None: the default); UnknownAccount if there is none."""
        with self._lock:
            if account is None:
                return next(iter(self._by_email.values()))
            found = self._by_email.get(account.strip().lower())
        if found is None:
            raise UnknownAccount(account)
        return found

    def all(self) -> list[AccountWorld]:
        with self._lock:
            return list(self._by_email.values())

    def by_guid(self, guid: str | None) -> AccountWorld | None:
        """The account a token or ticket names, if any."""
        with self._lock:
            return self._by_guid.get(guid) if guid else None

    def login(self, username: str, password: str) -> AccountWorld | None:
        """The account these SSO credentials open, if any."""
        with self._lock:
            found = self._by_email.get(username.strip().lower())
        return found if found is not None and found.matches(username, password) else None

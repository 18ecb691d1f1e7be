"""The simulator's shared state: its accounts, tokens, faults, configuration,
the IP-wide limit and the counters over all requests.

Each account (``account.AccountWorld``) has its own login, catalogue, limit
and counters, as Garmin's are per account; what one IP shares with all its
accounts lives here. Methods that concern an account take ``account=`` (an
email; None means the default account), so single-account callers never
notice the others. Every method is thread-safe, because the HTTP server
answers from many threads while tests poke at the same object.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .account import AccountWorld, Catalogue
from .data import Account, Activity
from .faults import Faults
from .fit_encoder import FitActivity
from .registry import AccountRegistry
from .stats import DEFAULT_WINDOWS
from .tokens import DEFAULT_CLIENT_ID, REFRESH_TTL_S, TokenAuthority
from .traffic import Traffic

DEFAULT_EMAIL = "athlete@example.com"
DEFAULT_PASSWORD = "correct-horse"  # noqa: S105 - the simulator's documented test login
MFA_CODE = "123456"
MAX_LIST_LIMIT = 1000
_GLOBAL_KEYS = ("latency_ms", "latency_jitter_ms", "token_ttl", "refresh_ttl", "manual_status")
_ACCOUNT_KEYS = ("rate_limit", "mfa")


@dataclass
class SsoSession:
    """A browser/app session on the SSO, keyed by its SESSION cookie."""

    created: float
    mfa_pending: bool = False
    service_url: str = ""
    email: str = ""  # whose password was accepted, while MFA is pending


class SimState:
    """Everything the simulator knows. Deterministic from ``seed``."""

    def __init__(
        self,
        activities: int = 300,
        seed: int = 1,
        *,
        latency_ms: int = 0,
        latency_jitter_ms: int = 0,
        token_ttl: int = 3600,
        refresh_ttl: int = REFRESH_TTL_S,
        email: str = DEFAULT_EMAIL,
        password: str = DEFAULT_PASSWORD,
        mfa: bool = False,
        display_name: str | None = None,
        full_name: str | None = None,
        gpx_ratio: float = 0.02,
        tcx_ratio: float = 0.02,
        manual_ratio: float = 0.02,
        manual_status: int = 404,
        fit_records: int = 100,
        hostile_names: int = -1,
        years: float = 3.0,
        now: datetime | None = None,
        rate_limit: dict[str, Any] | None = None,
    ) -> None:
        self.seed = seed
        self._lock = threading.RLock()
        self.fit_records = fit_records
        self.manual_status = manual_status
        self.traffic = Traffic(seed, latency_ms, latency_jitter_ms, rate_limit)
        self.rate_limiter = self.traffic.rate_limiter  # the IP-wide limit
        self.stats_counter = self.traffic.stats  # over all accounts
        self.tokens = TokenAuthority(token_ttl, refresh_ttl)
        self.faults = Faults(seed)
        self._sessions: dict[str, SsoSession] = {}
        catalogue = Catalogue(
            now=now or datetime.now(UTC),
            years=years,
            hostile_names=hostile_names,
            fit_records=fit_records,
            gpx_ratio=gpx_ratio,
            tcx_ratio=tcx_ratio,
            manual_ratio=manual_ratio,
        )
        self.registry = AccountRegistry(seed, catalogue)
        self._default = self.registry.add(
            email, password, seed=seed, activities=activities, mfa=mfa,
            display_name=display_name, full_name=full_name,
        )  # fmt: skip

    # -- accounts ------------------------------------------------------------ #

    def add_account(
        self,
        email: str,
        password: str = DEFAULT_PASSWORD,
        *,
        activities: int = 0,
        seed: int | None = None,
        rate_limit: dict[str, Any] | None = None,
        mfa: bool = False,
        display_name: str | None = None,
        full_name: str | None = None,
    ) -> str:
        """Add an account with its own catalogue, ids, GUID and profile; returns its email.

        Without ``seed`` the k-th account (0 = default) uses the simulator's seed + k.
        ``registry.AccountExists`` if the email is taken.
        """
        world = self.registry.add(
            email, password, seed=seed, activities=activities, rate_limit=rate_limit, mfa=mfa,
            display_name=display_name, full_name=full_name,
        )  # fmt: skip
        return world.email

    def accounts(self) -> list[str]:
        """Every account's email, the default first."""
        return [w.email for w in self.registry.all()]

    def world(self, account: str | None = None) -> AccountWorld:
        """The account by email (None: the default); ``registry.UnknownAccount`` (a KeyError) if none."""
        return self._default if account is None else self.registry.get(account)

    def check_credentials(self, username: str, password: str) -> bool:
        """Whether these are the default account's credentials."""
        return self._default.matches(username, password)

    @property
    def account(self) -> Account:
        """The default account's profile (email, password, mfa, displayName, ...)."""
        return self._default.profile

    @property
    def garmin_guid(self) -> str:
        return self._default.guid

    # -- an account's activities and files (account=None: the default) ------- #

    def activities(self, *, account: str | None = None) -> list[Activity]:
        """All activities, newest first (the list endpoint's order)."""
        return self.world(account).activities()

    def activity_ids(self, *, account: str | None = None) -> list[int]:
        return self.world(account).activity_ids()

    def get_activity(self, activity_id: int, *, account: str | None = None) -> Activity | None:
        return self.world(account).get_activity(activity_id)

    def ids_by_kind(self, kind: str, *, account: str | None = None) -> list[int]:
        return self.world(account).ids_by_kind(kind)

    def add_activities(self, count: int, kind: str | None = None, *, account: str | None = None) -> list[int]:
        """Add ``count`` new activities (newest), in upload order; returns ids."""
        return self.world(account).add_activities(count, kind)

    def delete_activity(self, activity_id: int, *, account: str | None = None) -> bool:
        """Delete upstream (as the athlete would on Garmin Connect)."""
        return self.world(account).delete_activity(activity_id)

    def edit_activity(self, activity_id: int, *, account: str | None = None, **changes: Any) -> bool:
        """Rename, retype, trim or move an activity upstream (``AccountWorld.edit_activity``)."""
        return self.world(account).edit_activity(activity_id, **changes) is not None

    def search(self, *args: Any, account: str | None = None, **filters: Any) -> list[Activity]:
        """The list endpoint's filtering and paging (``AccountWorld.search``'s arguments)."""
        return self.world(account).search(*args, **filters)

    def track(self, activity_id: int, *, account: str | None = None) -> FitActivity:
        """The samples written into the activity's FIT/GPX/TCX file."""
        return self.world(account).track(activity_id)

    def fit_bytes(self, activity_id: int, *, account: str | None = None) -> bytes:
        return self.world(account).fit_bytes(activity_id)

    def original_file(self, activity_id: int, *, account: str | None = None) -> tuple[str, bytes]:
        return self.world(account).original_file(activity_id)

    def original_zip(
        self, activity_id: int, fault: str | None = None, *, account: str | None = None
    ) -> bytes:
        return self.world(account).original_zip(activity_id, fault)

    def export(self, activity_id: int, fmt: str, *, account: str | None = None) -> bytes:
        return self.world(account).export(activity_id, fmt)

    # -- SSO sessions and tokens --------------------------------------------- #

    def new_sso_session(self) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[sid] = SsoSession(time.time())
        return sid

    def sso_session(self, sid: str | None) -> SsoSession | None:
        with self._lock:
            return self._sessions.get(sid) if sid else None

    def issue_tokens(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        ttl: int | None = None,
        *,
        account: str | None = None,
        refresh_ttl: int | None = None,
    ) -> dict[str, str]:
        """Token JSON for ``Garmin().login(tokenstore=json.dumps(...))``, no SSO needed.

        ``refresh_ttl``: seconds until the refresh token (and its rotations) runs out.
        """
        body = self.tokens.issue(self.world(account).guid, client_id, ttl, refresh_ttl_s=refresh_ttl)
        return {
            "di_token": body["access_token"],
            "di_refresh_token": body["refresh_token"],
            "di_client_id": client_id,
        }

    def revoke_refresh_tokens(self, *, account: str | None = None) -> int:
        return self.tokens.revoke_refresh_tokens(self.world(account).guid)

    def revoke_access_tokens(self, *, account: str | None = None) -> None:
        self.tokens.revoke_access_tokens(self.world(account).guid)

    # -- faults, config, stats --------------------------------------------- #

    def latency_s(self) -> float:
        return self.traffic.latency_s()

    def set_faults(self, spec: Any) -> dict[str, Any]:
        """Same JSON as ``POST /__sim/faults``."""
        return self.faults.apply(spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    def configure(self, *, account: str | None = None, **options: Any) -> dict[str, Any]:
        """Same keys as ``POST /__sim/config``; returns the resulting config.

        Without ``account``, ``rate_limit`` is the IP-wide limit and ``mfa``
        the default account's; with it, only ``rate_limit`` and ``mfa`` (that
        account's) are accepted.
        """
        unknown = set(options) - set(_GLOBAL_KEYS) - set(_ACCOUNT_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if account is not None and set(options) - set(_ACCOUNT_KEYS):
            raise ValueError(f"only {list(_ACCOUNT_KEYS)} can be set per account")
        world = self.world(account)
        for key in _GLOBAL_KEYS:
            value = options.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{key} must be a non-negative integer")
        with self._lock:
            if "rate_limit" in options:
                limiter = self.rate_limiter if account is None else world.rate_limiter
                limiter.configure(options["rate_limit"])
            if options.get("latency_ms") is not None:
                self.traffic.latency_ms = options["latency_ms"]
            if options.get("latency_jitter_ms") is not None:
                self.traffic.latency_jitter_ms = options["latency_jitter_ms"]
            if options.get("token_ttl") is not None:
                self.tokens.ttl_s = max(1, options["token_ttl"])
            if options.get("refresh_ttl") is not None:
                self.tokens.refresh_ttl_s = max(1, options["refresh_ttl"])
            if options.get("manual_status") is not None:
                self.manual_status = options["manual_status"]
            if options.get("mfa") is not None:
                world.set_mfa(bool(options["mfa"]))
        return self.config(account=account)

    def config(self, *, account: str | None = None) -> dict[str, Any]:
        """The global config (``rate_limit`` IP-wide), or one account's settings."""
        if account is not None:
            return self.world(account).describe()
        with self._lock:
            return {
                "latency_ms": self.traffic.latency_ms,
                "latency_jitter_ms": self.traffic.latency_jitter_ms,
                "token_ttl": self.tokens.ttl_s,
                "refresh_ttl": self.tokens.refresh_ttl_s,
                "rate_limit": self.rate_limiter.describe(),
                "manual_status": self.manual_status,
                "mfa": self.account.mfa,
                "fit_records": self.fit_records,
                "seed": self.seed,
                "activities": len(self._default.activity_ids()),
                "accounts": len(self.registry.all()),
            }

    def stats(
        self, windows: Sequence[float] = DEFAULT_WINDOWS, *, account: str | None = None
    ) -> dict[str, Any]:
        """Counters over every non-control request, or over one account's (docs/SIMULATOR.md)."""
        counter = self.stats_counter if account is None else self.world(account).stats_counter
        return counter.snapshot(windows)

    def reset_stats(self, *, account: str | None = None) -> None:
        """Zero every counter, or only one account's."""
        if account is not None:
            self.world(account).stats_counter.reset()
            return
        self.stats_counter.reset()
        for world in self.registry.all():
            world.stats_counter.reset()
